// Home screen for visitors who are not signed in: start a new meeting or join one by code or link,
// and sign in to the workspace (people, conversations, calls).
import { h, icon, logo } from './ui.js';
import { signInForm } from './auth.js';
import { api } from './session.js';


const CODE_RE = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Extracts a room path (and token) from what the user typed: a full link, a path, or a bare code.
 * @param {string} value
 * @returns {string|null} path such as /m/abc?token=...
 */
export function parseJoinInput(value) {
  const v = String(value || '').trim();
  if (!v) return null;
  if (CODE_RE.test(v)) return `/m/${v}`;
  let url;
  try {
    url = new URL(v, location.origin);
  } catch {
    return null;
  }
  const m = /\/m\/([A-Za-z0-9_-]{1,64})\/?$/.exec(url.pathname);
  if (!m) return null;
  const token = url.searchParams.get('token');
  return `/m/${m[1]}${token ? `?token=${encodeURIComponent(token)}` : ''}`;
}

export function renderHome(root, { navigate }) {
  const signIn = signInForm({ onDone: () => navigate('/', { replace: true }) });
  const setupNote = h('p.muted.small', { hidden: true, 'data-testid': 'setup-needed',
    text: 'This server has no accounts yet. Open the setup link from the server’s log to create the first administrator.' });
  api('/api/v1/auth/setup').then((st) => { setupNote.hidden = !st.needed; }).catch(() => {});
  const error = h('p.form-error', { 'data-testid': 'error-message', role: 'alert', hidden: true });
  const showError = (text) => {
    error.textContent = text;
    error.hidden = !text;
  };

  const newBtn = h('button.btn.btn-primary.btn-lg', {
    type: 'button', 'data-testid': 'new-meeting',
    onclick: async () => {
      newBtn.disabled = true;
      showError('');
      try {
        const res = await fetch('/api/v1/rooms', {
          method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}',
        });
        if (!res.ok) {
          let msg = '';
          try { msg = (await res.json()).message || ''; } catch { /* not JSON */ }
          if (res.status === 401 || res.status === 403) throw new Error(msg || 'Creating meetings needs an account on this server.');
          throw new Error(msg || `The server could not create a meeting (${res.status}).`);
        }
        navigate(meetingPath(await res.json()));
      } catch (err) {
        showError(err instanceof TypeError ? 'Could not reach the server. Check your connection.' : err.message);
        newBtn.disabled = false;
      }
    },
  }, icon('videoCall'), h('span', { text: 'New meeting' }));

  const codeInput = h('input.input', {
    type: 'text', id: 'join-code', name: 'code', placeholder: 'Enter a code or link', autocomplete: 'off',
    spellcheck: 'false', 'aria-label': 'Meeting code or link', 'data-testid': 'join-code',
  });
  const joinBtn = h('button.btn.btn-text', { type: 'submit', disabled: true, 'data-testid': 'join-code-button', text: 'Join' });
  codeInput.addEventListener('input', () => {
    joinBtn.disabled = !codeInput.value.trim();
    showError('');
  });
  const form = h('form.join-form', {
    onsubmit: (ev) => {
      ev.preventDefault();
      const path = parseJoinInput(codeInput.value);
      if (!path) {
        showError('That does not look like a meeting code or link.');
        codeInput.focus();
        return;
      }
      navigate(path);
    },
  }, h('span.input-icon', null, icon('keyboard')), codeInput, joinBtn);

  const page = h('div.home',
    null,
    h('header.topbar', null,
      h('a.brand', { href: '/', 'aria-label': 'Switchboard home' }, logo(32), h('span.brand-name', { text: 'Switchboard' }))),
    h('main.home-main', { id: 'main' },
      h('section.home-hero', null,
        h('h1', { text: 'Meetings that just work, on your own server' }),
        h('p.lead', { text: 'Secure video meetings with screen sharing, chat and files. Nothing to install: share a link and talk.' }),
        h('div.home-actions', null, newBtn, form),
        error,
        h('hr.divider'),
        h('p.muted.small', null, 'Anyone with the link can ask to join. Media is always encrypted.')),
      h('section.home-signin', { 'aria-labelledby': 'signin-title' },
        h('div.auth-card', null,
          h('h2', { id: 'signin-title', text: 'Sign in to your workspace' }),
          h('p.muted', { text: 'Message and call your colleagues.' }),
          signIn.el,
          setupNote))));
  root.appendChild(page);
  return { destroy() {} };
}

/** The app path of a meeting the server just created: its URL when on this origin, else by id. */
export function meetingPath(created) {
  if (created.url) {
    try {
      const u = new URL(created.url, location.origin);
      if (u.origin === location.origin) return u.pathname + u.search;
    } catch { /* use the id */ }
  }
  return `/m/${created.id}`;
}

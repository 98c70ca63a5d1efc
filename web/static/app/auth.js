// Signing in: the sign-in form (on the home page and at /login), first-run setup (/setup?code=...)
// and accepting an invitation (/invite/{token}).
import { h, logo } from './ui.js';
import { login, setup, acceptInvite, api, loadSession } from './session.js';

function field(id, label, attrs) {
  const input = h('input.input', { id, name: id, ...attrs });
  return { input, el: h('div.field', null, h('label.field-label', { for: id, text: label }), input) };
}

function errorBox(testid) {
  const el = h('p.form-error', { role: 'alert', 'data-testid': testid, hidden: true });
  return {
    el,
    show(text) {
      el.textContent = text;
      el.hidden = !text;
    },
  };
}

/** Human text for a failed sign-in. */
function signInError(err) {
  switch (err.code) {
    case 'unauthorized': return err.message === 'wrong code' ? 'That code is not right. Try the current one.' : 'Wrong username or password.';
    case 'locked': return 'Too many failed attempts. This account is locked for a while.';
    case 'rate_limited': return 'Too many attempts from here. Wait a moment and try again.';
    case 'forbidden': return err.message || 'This account is disabled.';
    default: return err.message || 'Could not sign in.';
  }
}

/**
 * The sign-in form. `onDone()` runs once signed in.
 * @param {{onDone: () => void, compact?: boolean}} opts
 */
export function signInForm(opts) {
  const user = field('login-username', 'Username', { type: 'text', autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false', required: true, 'data-testid': 'login-username' });
  const pass = field('login-password', 'Password', { type: 'password', autocomplete: 'current-password', required: true, 'data-testid': 'login-password' });
  const totp = field('login-totp', 'Code from your authenticator app', { type: 'text', inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9 ]*', 'data-testid': 'login-totp' });
  totp.el.hidden = true;
  const error = errorBox('login-error');
  const submit = h('button.btn.btn-primary.btn-block', { type: 'submit', 'data-testid': 'login-submit', text: 'Sign in' });
  const form = h('form.auth-form', { 'aria-label': 'Sign in', novalidate: true }, user.el, pass.el, totp.el, error.el, submit);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.show('');
    if (!user.input.value.trim() || !pass.input.value) {
      error.show('Enter your username and password.');
      (user.input.value.trim() ? pass.input : user.input).focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Signing in…';
    try {
      await login(user.input.value.trim(), pass.input.value, totp.el.hidden ? '' : totp.input.value.replace(/\s/g, ''));
      opts.onDone();
    } catch (err) {
      if (err.code === 'totp_required') {
        totp.el.hidden = false;
        totp.input.focus();
        error.show('');
      } else {
        error.show(signInError(err));
        (totp.el.hidden ? pass.input : totp.input).select();
      }
    } finally {
      submit.disabled = false;
      submit.textContent = 'Sign in';
    }
  });
  // Single sign-on, when the server has it: a whole-page link, since the
  // provider's pages cannot be fetched.
  const sso = h('div.auth-sso', { hidden: true });
  form.append(sso);
  api('/api/v1/auth/setup').then((s) => {
    if (!s.sso) return;
    sso.replaceChildren(h('p.auth-or.muted.small', { text: 'or' }),
      h('a.btn.btn-block', { href: '/api/v1/auth/oidc/login', 'data-testid': 'login-sso', text: `Sign in with ${s.ssoName || 'single sign-on'}` }));
    sso.hidden = false;
  }).catch(() => {});
  return { el: form, focus: () => user.input.focus() };
}

/** A centred card page with the brand on top. */
function cardPage(title, sub, body) {
  return h('div.center-page.auth-page', null,
    h('header.topbar', null, h('a.brand', { href: '/', 'aria-label': 'Switchboard home' }, logo(28), h('span.brand-name', { text: 'Switchboard' }))),
    h('main.auth-main', { id: 'main' },
      h('section.auth-card', { 'aria-labelledby': 'auth-title' },
        h('h1', { id: 'auth-title', text: title }),
        sub ? h('p.muted', { text: sub }) : null,
        body)));
}

/** /login */
export function renderSignIn(root, { navigate }) {
  const form = signInForm({ onDone: () => navigate('/', { replace: true }) });
  // Back from a single sign-on that failed: say why.
  const ssoError = new URLSearchParams(location.search).get('sso_error');
  const notice = ssoError ? h('p.form-error', { role: 'alert', 'data-testid': 'login-sso-error', text: `Single sign-on failed: ${ssoError}` }) : null;
  root.appendChild(cardPage('Sign in', 'Sign in to your Switchboard workspace.', [notice, form.el,
    h('p.muted.small.auth-foot', null, 'No account? Ask your administrator for an invitation. ', h('a', { href: '/', text: 'Start or join a meeting' }), ' without one.')]));
  form.focus();
  return { destroy() {} };
}

/** The fields of a new account (setup and invitations). */
function accountFields(prefix) {
  const username = field(`${prefix}-username`, 'Username', { type: 'text', autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false', maxlength: '32', required: true, 'data-testid': `${prefix}-username`, pattern: '[a-z0-9._\\-]{1,32}' });
  const display = field(`${prefix}-display-name`, 'Your name', { type: 'text', autocomplete: 'name', maxlength: '64', 'data-testid': `${prefix}-display-name` });
  const email = field(`${prefix}-email`, 'E-mail (optional)', { type: 'email', autocomplete: 'email', 'data-testid': `${prefix}-email` });
  const password = field(`${prefix}-password`, 'Password', { type: 'password', autocomplete: 'new-password', required: true, 'data-testid': `${prefix}-password` });
  const confirm = field(`${prefix}-confirm`, 'Password again', { type: 'password', autocomplete: 'new-password', required: true, 'data-testid': `${prefix}-confirm` });
  const hint = h('p.muted.small', { text: 'Usernames are lowercase letters, digits and . _ - (people mention you as @username). Use a long password: a phrase of a few words is good.' });
  return {
    els: [display.el, username.el, hint, email.el, password.el, confirm.el],
    focus: () => display.input.focus(),
    /** The values, or an error to show. */
    read() {
      const u = username.input.value.trim().toLowerCase();
      if (!/^[a-z0-9._-]{1,32}$/.test(u)) return { error: 'A username is 1-32 characters of a-z, 0-9, dot, underscore and dash.', focus: username.input };
      if (password.input.value !== confirm.input.value) return { error: 'The two passwords differ.', focus: confirm.input };
      return { values: { username: u, displayName: display.input.value.trim(), email: email.input.value.trim(), password: password.input.value } };
    },
  };
}

/** Submitting a new account's form: check the fields, create it with `create(values)`, go home. */
function submitAccount(form, fields, error, submit, create, navigate) {
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const r = fields.read();
    if (r.error) {
      error.show(r.error);
      r.focus.focus();
      return;
    }
    submit.disabled = true;
    try {
      await create(r.values);
      navigate('/', { replace: true });
    } catch (err) {
      error.show(err.message);
      submit.disabled = false;
    }
  });
}

/** /setup?code=...: the first admin. */
export function renderSetup(root, { navigate }) {
  const code = new URLSearchParams(location.search).get('code') || '';
  const fields = accountFields('setup');
  const codeField = field('setup-code', 'Setup code (from the server log)', { type: 'text', autocomplete: 'off', spellcheck: 'false', 'data-testid': 'setup-code' });
  codeField.input.value = code;
  if (code) codeField.el.hidden = true;
  const error = errorBox('setup-error');
  const submit = h('button.btn.btn-primary.btn-block', { type: 'submit', 'data-testid': 'setup-submit', text: 'Create admin account' });
  const form = h('form.auth-form', { novalidate: true }, codeField.el, ...fields.els, error.el, submit);
  const page = cardPage('Set up Switchboard', 'Create the first account. It will be the administrator, who invites everyone else.', form);
  root.appendChild(page);
  fields.focus();
  api('/api/v1/auth/setup').then((s) => {
    if (!s.needed) {
      form.replaceChildren(h('p', { 'data-testid': 'setup-done', text: 'Setup is done already.' }), h('a.btn.btn-primary', { href: '/login', text: 'Sign in' }));
    }
  }).catch(() => {});
  submitAccount(form, fields, error, submit, (values) => setup({ code: codeField.input.value.trim(), ...values }), navigate);
  return { destroy() {} };
}

/** /invite/{token}: create an account from an invitation. */
export function renderInvite(root, { navigate, token }) {
  const fields = accountFields('invite');
  const error = errorBox('invite-error');
  const submit = h('button.btn.btn-primary.btn-block', { type: 'submit', 'data-testid': 'invite-submit', text: 'Create account' });
  const form = h('form.auth-form', { novalidate: true }, ...fields.els, error.el, submit);
  const signedIn = h('p.media-message', { hidden: true, 'data-testid': 'invite-signed-in' });
  loadSession({ force: true }).then((user) => {
    if (!user) return;
    signedIn.replaceChildren(`You are signed in as ${user.displayName || user.username}. This invitation creates another account; `,
      h('a', { href: '/', text: 'go to your workspace' }), ' instead?');
    signedIn.hidden = false;
  }).catch(() => {});
  root.appendChild(cardPage('You are invited to Switchboard', 'Create your account to message and call your colleagues.', [signedIn, form,
    h('p.muted.small.auth-foot', null, 'Already have an account? ', h('a', { href: '/login', text: 'Sign in' }))]));
  fields.focus();
  submitAccount(form, fields, error, submit, (values) => acceptInvite({ token, ...values }).catch((err) => {
    if (err.status === 404) err.message = 'This invitation is not valid any more: it was used or it expired. Ask for a new one.';
    throw err;
  }), navigate);
  return { destroy() {} };
}

// People, for admins: the accounts of the workspace (role, disabling and enabling) and invitation links
// (docs/api.md, "Invitations" and "Users"). Opened from the workspace's sidebar; only admins see it, and
// the server refuses everyone else anyway.
import { h, icon, toast, copyText, initials, avatarColor } from './ui.js';
import { fullWhen } from './format.js';
import { api, session } from './session.js';
import { openDialog } from './dialogs.js';

/** The roles, as the admin picks them. */
export const ROLES = [
  { value: 'member', label: 'Member', hint: 'Messages, calls and meetings.' },
  { value: 'agent', label: 'Agent', hint: 'A member who answers customer contacts.' },
  { value: 'admin', label: 'Admin', hint: 'Also manages people, invitations and webhooks, and may moderate any conversation.' },
];
const ROLE_LABEL = Object.fromEntries(ROLES.map((r) => [r.value, r.label]));
const roleLabel = (role) => ROLE_LABEL[role] || role;
const aRole = (role) => `${/^[aeiou]/i.test(roleLabel(role)) ? 'an' : 'a'} ${roleLabel(role).toLowerCase()}`;

/** How long an invitation link works (the server allows up to 720h). */
const EXPIRIES = [
  { value: '24h', label: '1 day' },
  { value: '72h', label: '3 days' },
  { value: '168h', label: '7 days' },
  { value: '720h', label: '30 days' },
];
const DEFAULT_EXPIRY = '168h';

/** "3 Nov 2026, 14:05" (the year only when it is not this one). */
function when(at, { time = false } = {}) {
  const d = new Date(at);
  if (!at || Number.isNaN(d.getTime())) return '';
  const opts = { day: 'numeric', month: 'short' };
  if (d.getFullYear() !== new Date().getFullYear()) opts.year = 'numeric';
  if (time) Object.assign(opts, { hour: '2-digit', minute: '2-digit' });
  return d.toLocaleString([], opts);
}

const nameOf = (u) => (u && (u.displayName || u.username)) || 'Someone';

/**
 * Asks to confirm an action in a modal dialog (on top of the one open). Resolves true when confirmed.
 * @param {{title: string, text: string, ok: string, danger?: boolean, testid?: string}} o
 * @returns {Promise<boolean>}
 */
export function confirmDialog(o) {
  return new Promise((resolve) => {
    let answer = false;
    const cancel = h('button.btn.btn-outline', { type: 'button', text: 'Cancel', 'data-testid': 'confirm-cancel' });
    const ok = h(`button.btn.btn-primary${o.danger ? '.btn-danger' : ''}`, { type: 'button', text: o.ok, 'data-testid': 'confirm-ok' });
    const dlg = openDialog({
      title: o.title, testid: o.testid || 'confirm-dialog',
      body: [h('p', { text: o.text })], foot: [cancel, ok],
      onClose: () => resolve(answer),
    });
    cancel.addEventListener('click', () => dlg.close());
    ok.addEventListener('click', () => { answer = true; dlg.close(); });
    // The safe choice has the focus: Enter does not disable anyone by accident.
    cancel.focus();
  });
}

/**
 * Opens People: invitations and accounts.
 * @param {import('/sdk/messaging.js').MessagingClient} client
 * @param {{onRoleChanged?: (role: string) => void}} [opts] onRoleChanged: the signed-in admin changed their own role
 */
export function peopleAdminDialog(client, opts = {}) {
  /** @type {any[]} */
  let users = [];
  /** @type {any[]} */
  let invites = [];
  let filter = '';
  const me = () => client.me?.id || session.user?.id;
  const byId = (id) => users.find((u) => u.id === id) || client.user(id);

  // ------------------------------------------------------------------ invitations
  const roleSelect = h('select.select', { id: 'invite-role', 'data-testid': 'invite-role', 'aria-describedby': 'invite-role-hint' },
    ROLES.map((r) => h('option', { value: r.value, text: r.label })));
  const roleHint = h('p.muted.small.admin-hint', { id: 'invite-role-hint' });
  const showHint = () => { roleHint.textContent = ROLES.find((r) => r.value === roleSelect.value)?.hint || ''; };
  roleSelect.addEventListener('change', showHint);
  showHint();
  const expirySelect = h('select.select', { id: 'invite-expiry', 'data-testid': 'invite-expiry' },
    EXPIRIES.map((e) => h('option', { value: e.value, text: e.label, 'prop:selected': e.value === DEFAULT_EXPIRY })));
  const createBtn = h('button.btn.btn-primary', { type: 'submit', 'data-testid': 'invite-create' }, icon('link', { size: 18 }), h('span', { text: 'Create invitation link' }));
  const inviteError = h('p.form-error', { role: 'alert', 'data-testid': 'invite-error', hidden: true });
  const result = h('div.admin-invite-result', { 'data-testid': 'invite-result', hidden: true });
  const inviteForm = h('form.admin-invite-form', { 'aria-labelledby': 'admin-invite-title' },
    h('div.field', null, h('label.field-label', { for: 'invite-role', text: 'Role' }), roleSelect),
    h('div.field', null, h('label.field-label', { for: 'invite-expiry', text: 'Link works for' }), expirySelect),
    createBtn);
  const pendingTitle = h('h3.section-title', { id: 'admin-pending-title' });
  const inviteList = h('ul.admin-list', { 'data-testid': 'invite-list', 'aria-labelledby': 'admin-pending-title' });

  inviteForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    inviteError.hidden = true;
    createBtn.disabled = true;
    try {
      const inv = await api('/api/v1/invites', { method: 'POST', body: { role: roleSelect.value, ttl: expirySelect.value } });
      showLink(inv);
      invites = [{ ...inv, token: undefined, url: undefined }, ...invites.filter((x) => x.id !== inv.id)];
      renderInvites();
    } catch (err) {
      inviteError.textContent = `Could not create the invitation: ${err.message}`;
      inviteError.hidden = false;
    } finally {
      createBtn.disabled = false;
    }
  });

  let shownInvite = ''; // the invitation whose link is shown
  /** The link of a new invitation, with a Copy button. It is only in the answer that created it. */
  function showLink(inv) {
    shownInvite = inv.id;
    // The address this admin uses; the path is the server's (or the one the app knows).
    let path = `/invite/${encodeURIComponent(inv.token)}`;
    try {
      if (inv.url) path = new URL(inv.url, location.origin).pathname;
    } catch { /* keep ours */ }
    const link = `${location.origin}${path}`;
    const input = h('input.input.input-light.admin-link', { type: 'text', readonly: true, id: 'invite-link', 'data-testid': 'invite-link', 'aria-describedby': 'invite-link-note', spellcheck: 'false' });
    input.value = link;
    // Selected whole, showing its beginning.
    input.addEventListener('focus', () => input.setSelectionRange(0, input.value.length, 'backward'));
    const copy = h('button.btn.btn-outline', { type: 'button', 'data-testid': 'invite-copy' }, icon('copy', { size: 18 }), h('span', { text: 'Copy' }));
    copy.addEventListener('click', async () => {
      const ok = await copyText(link);
      if (ok) {
        copy.lastChild.textContent = 'Copied';
        toast('Invitation link copied');
        setTimeout(() => { if (copy.isConnected) copy.lastChild.textContent = 'Copy'; }, 2000);
      } else {
        input.focus();
        toast('Could not copy: select the link and copy it yourself.', { kind: 'error' });
      }
    });
    result.replaceChildren(
      h('label.field-label', { for: 'invite-link', text: `Invitation link for ${aRole(inv.role)}` }),
      h('div.admin-copy-row', null, input, copy),
      h('p.muted.small', { id: 'invite-link-note', text: `Send it to the person you invite. It creates one account and works until ${when(inv.expiresAt, { time: true })}. This is the only time it is shown: copy it now.` }));
    result.hidden = false;
    input.focus();
  }

  const pending = () => {
    const now = Date.now();
    return invites.filter((i) => !i.usedAt && new Date(i.expiresAt).getTime() > now);
  };

  function renderInvites() {
    const list = pending();
    pendingTitle.textContent = `Pending invitations (${list.length})`;
    // A link that was used or revoked meanwhile is of no use any more.
    if (shownInvite && !list.some((i) => i.id === shownInvite)) {
      shownInvite = '';
      if (result.contains(document.activeElement)) createBtn.focus();
      result.hidden = true;
      result.replaceChildren();
    }
    const focused = document.activeElement?.closest?.('[data-testid="invite-item"]') ? document.activeElement : null;
    inviteList.replaceChildren();
    if (!list.length) inviteList.appendChild(h('li.muted.pick-empty', { 'data-testid': 'invite-none', text: 'No pending invitations.' }));
    for (const inv of list) {
      const by = byId(inv.createdBy);
      const revoke = h('button.btn.btn-text.btn-sm.admin-danger', {
        type: 'button', 'data-testid': 'invite-revoke', text: 'Revoke',
        'aria-label': `Revoke the invitation for ${aRole(inv.role)} created ${when(inv.createdAt, { time: true })}`,
      });
      revoke.addEventListener('click', async () => {
        revoke.disabled = true;
        try {
          await api(`/api/v1/invites/${encodeURIComponent(inv.id)}`, { method: 'DELETE' });
          invites = invites.filter((x) => x.id !== inv.id);
          toast('Invitation revoked: its link no longer works.');
        } catch (err) {
          if (err.status === 404) invites = invites.filter((x) => x.id !== inv.id);
          else toast(`Could not revoke the invitation: ${err.message}`, { kind: 'error' });
        }
        renderInvites();
        // Keep the keyboard in the list.
        (inviteList.querySelector('[data-testid="invite-revoke"]') || createBtn).focus();
      });
      inviteList.appendChild(h('li.admin-row', { 'data-testid': 'invite-item', 'data-invite': inv.id, 'data-role': inv.role },
        h('span.admin-role-icon', { 'aria-hidden': 'true' }, icon('link', { size: 18 })),
        h('span.admin-main', null,
          h('span.person-name', null, h('span', { text: `Invitation for ${aRole(inv.role)}` })),
          h('span.person-sub', null,
            h('time', { datetime: inv.createdAt, title: fullWhen(inv.createdAt), text: `Created ${when(inv.createdAt)}` }),
            ` by ${nameOf(by)} · `,
            h('time', { datetime: inv.expiresAt, title: fullWhen(inv.expiresAt), text: `expires ${when(inv.expiresAt, { time: true })}` }))),
        revoke));
    }
    if (focused && !focused.isConnected) createBtn.focus();
  }

  // ------------------------------------------------------------------ accounts
  const usersTitle = h('h3.section-title', { id: 'admin-users-title' });
  const search = h('input.input.input-light', { type: 'search', placeholder: 'Filter by name, username or e-mail', 'aria-label': 'Filter accounts', 'data-testid': 'admin-user-filter', autocomplete: 'off' });
  search.addEventListener('input', () => { filter = search.value.trim().toLowerCase(); renderUsers(); });
  const usersError = h('p.form-error', { role: 'alert', 'data-testid': 'admin-error', hidden: true });
  const userList = h('ul.admin-list', { 'data-testid': 'admin-user-list', 'aria-labelledby': 'admin-users-title' });
  const showError = (text) => { usersError.textContent = text; usersError.hidden = !text; };

  const matches = (u) => !filter || u.username.includes(filter) || (u.displayName || '').toLowerCase().includes(filter)
    || (u.email || '').toLowerCase().includes(filter);

  /** Sends a change of a user; the answer replaces them in the list. */
  async function patch(u, changes, what) {
    showError('');
    try {
      const updated = await api(`/api/v1/users/${encodeURIComponent(u.id)}`, { method: 'PATCH', body: changes });
      users = users.map((x) => (x.id === updated.id ? { ...x, ...updated } : x));
      // The directory of the pickers follows (a disabled person disappears from them).
      client.loadUsers().catch(() => {});
      return updated;
    } catch (err) {
      showError(`Could not ${what}: ${err.message}${err.message.endsWith('.') ? '' : '.'}`);
      return null;
    } finally {
      renderUsers();
    }
  }

  async function changeRole(u, role) {
    const self = u.id === me();
    if (self && u.role === 'admin' && role !== 'admin') {
      const ok = await confirmDialog({
        title: 'Give up admin rights?', ok: `Make me ${aRole(role)}`, danger: true, testid: 'admin-confirm',
        text: `You will no longer manage people and invitations. Another admin can make you an admin again.`,
      });
      if (!ok) { renderUsers(); return; }
    }
    const updated = await patch(u, { role }, `change ${nameOf(u)}'s role`);
    if (!updated) return;
    toast(self ? `You are now ${aRole(updated.role)}.` : `${nameOf(updated)} is now ${aRole(updated.role)}.`);
    if (self) {
      if (session.user) session.user.role = updated.role;
      if (client.me) client.me.role = updated.role;
      opts.onRoleChanged?.(updated.role);
      if (updated.role !== 'admin') dlg.close();
    }
  }

  async function setDisabled(u, disabled) {
    if (disabled) {
      const ok = await confirmDialog({
        title: `Disable ${nameOf(u)}'s account?`, ok: 'Disable account', danger: true, testid: 'admin-confirm',
        text: `${nameOf(u)} (@${u.username}) is signed out everywhere at once and cannot sign in again, and their API tokens stop working. Their messages stay. You can enable the account again later.`,
      });
      if (!ok) return;
    }
    const updated = await patch(u, { disabled }, `${disabled ? 'disable' : 'enable'} ${nameOf(u)}'s account`);
    if (updated) toast(disabled ? `${nameOf(updated)}'s account is disabled; they were signed out.` : `${nameOf(updated)}'s account is enabled again.`);
  }

  function userRow(u) {
    const self = u.id === me();
    const name = nameOf(u);
    const roleId = `user-role-${u.id}`;
    const select = h('select.select.admin-role', { id: roleId, 'data-testid': 'user-role', 'aria-label': `Role of ${name}` },
      ROLES.map((r) => h('option', { value: r.value, text: r.label, 'prop:selected': r.value === u.role })));
    // A change is applied with Save: arrow keys on a closed select must not change roles one by one.
    const save = h('button.btn.btn-primary.btn-sm', { type: 'button', 'data-testid': 'user-role-save', text: 'Save', 'aria-label': `Save the role of ${name}`, hidden: true });
    const undo = h('button.btn.btn-text.btn-sm', { type: 'button', 'data-testid': 'user-role-cancel', text: 'Cancel', 'aria-label': `Keep the role of ${name}`, hidden: true });
    select.addEventListener('change', () => {
      const changed = select.value !== u.role;
      save.hidden = !changed;
      undo.hidden = !changed;
    });
    undo.addEventListener('click', () => {
      select.value = u.role;
      save.hidden = true;
      undo.hidden = true;
      select.focus();
    });
    save.addEventListener('click', async () => {
      save.disabled = true;
      await changeRole(u, select.value);
    });
    const toggle = self ? null : h(`button.btn.btn-sm${u.disabled ? '.btn-outline' : '.btn-text.admin-danger'}`, {
      type: 'button', 'data-testid': u.disabled ? 'user-enable' : 'user-disable',
      text: u.disabled ? 'Enable' : 'Disable', 'aria-label': `${u.disabled ? 'Enable' : 'Disable'} ${name}'s account`,
    });
    toggle?.addEventListener('click', () => setDisabled(u, !u.disabled));

    const facts = [
      u.createdAt ? h('time', { datetime: u.createdAt, title: fullWhen(u.createdAt), text: `Joined ${when(u.createdAt)}` }) : null,
      u.lastActiveAt ? h('time', { datetime: u.lastActiveAt, title: fullWhen(u.lastActiveAt), 'data-testid': 'user-last-active', text: `Last active ${when(u.lastActiveAt, { time: true })}` }) : null,
      u.totpEnabled ? h('span', { text: 'Two-factor sign-in on' }) : null,
      u.lockedUntil ? h('span.admin-warn', { title: fullWhen(u.lockedUntil), text: `Sign-in locked until ${when(u.lockedUntil, { time: true })}` }) : null,
    ].filter(Boolean);
    const sub = [`@${u.username}`, u.email].filter(Boolean).join(' · ');
    return h(`li.admin-row${u.disabled ? '.admin-disabled' : ''}`, {
      'data-testid': 'admin-user', 'data-user': u.id, 'data-username': u.username, 'data-role': u.role, 'data-disabled': String(!!u.disabled),
    },
    h('span.avatar.avatar-sm', { style: { background: avatarColor(u.id) }, text: initials(name), 'aria-hidden': 'true' }),
    h('span.admin-main', null,
      h('span.admin-name-line', null,
        h('span.person-name', { 'data-testid': 'admin-user-name', text: name }),
        self ? h('span.badge', { text: 'You' }) : null,
        u.disabled ? h('span.badge.badge-off', { 'data-testid': 'admin-user-disabled', text: 'Disabled' }) : null),
      h('span.person-sub', { text: sub }),
      facts.length ? h('span.person-sub.admin-facts', null, facts.flatMap((f, i) => (i ? [' · ', f] : [f]))) : null),
    h('span.admin-actions', null, select, save, undo, toggle));
  }

  function renderUsers() {
    const enabled = users.filter((u) => !u.disabled).length;
    usersTitle.textContent = `Accounts (${enabled}${enabled === users.length ? '' : ` + ${users.length - enabled} disabled`})`;
    // Keep the keyboard where it was: the same control of the same person.
    const active = document.activeElement;
    const row = active?.closest?.('[data-testid="admin-user"]');
    const keep = row && userList.contains(row) ? { user: row.dataset.user, testid: active.dataset.testid } : null;
    userList.replaceChildren();
    const shown = users.filter(matches);
    if (!shown.length) userList.appendChild(h('li.muted.pick-empty', { text: users.length ? 'Nobody matches.' : 'No accounts.' }));
    for (const u of shown) userList.appendChild(userRow(u));
    if (keep) {
      const again = userList.querySelector(`[data-user="${CSS.escape(keep.user)}"]`);
      const swap = { 'user-disable': 'user-enable', 'user-enable': 'user-disable', 'user-role-save': 'user-role', 'user-role-cancel': 'user-role' };
      const shownEl = (testid) => {
        const x = again?.querySelector(`[data-testid="${testid}"]`);
        return x && !x.hidden ? x : null;
      };
      (shownEl(keep.testid) || shownEl(swap[keep.testid] || 'user-role') || search).focus();
    }
  }

  // ------------------------------------------------------------------ loading
  const loadError = h('p.form-error', { role: 'alert', 'data-testid': 'admin-load-error', hidden: true });
  const refresh = h('button.btn.btn-text.btn-sm', { type: 'button', 'data-testid': 'admin-refresh' }, h('span', { text: 'Refresh' }));
  let loading = null;
  async function load() {
    if (loading) return loading;
    refresh.disabled = true;
    loading = (async () => {
      try {
        const [u, i] = await Promise.all([api('/api/v1/users'), api('/api/v1/invites')]);
        users = u.users || [];
        invites = i.invites || [];
        loadError.hidden = true;
      } catch (err) {
        loadError.textContent = err.status === 403 ? 'Only admins can manage people.' : `Could not load the accounts: ${err.message}`;
        loadError.hidden = false;
      } finally {
        loading = null;
        refresh.disabled = false;
      }
      renderInvites();
      renderUsers();
    })();
    return loading;
  }
  refresh.addEventListener('click', () => load().then(() => { if (loadError.hidden) toast('People and invitations updated'); }));
  // Back from sending a link: someone may have joined meanwhile.
  const onVisible = () => { if (document.visibilityState === 'visible') load(); };
  document.addEventListener('visibilitychange', onVisible);

  pendingTitle.textContent = 'Pending invitations';
  usersTitle.textContent = 'Accounts';
  userList.appendChild(h('li.muted.pick-empty', { text: 'Loading…' }));
  const body = [
    loadError,
    h('section.admin-section', { 'aria-labelledby': 'admin-invite-title' },
      h('h3.section-title', { id: 'admin-invite-title', text: 'Invite people' }),
      h('p.muted.small', { text: 'An invitation is a link that creates one account with the role you choose. Nobody can sign up without one.' }),
      inviteForm, roleHint, inviteError, result),
    h('section.admin-section', { 'aria-labelledby': 'admin-pending-title' }, pendingTitle, inviteList),
    h('section.admin-section', { 'aria-labelledby': 'admin-users-title' },
      h('div.admin-section-head', null, usersTitle, h('span.spacer'), refresh),
      search, usersError, userList),
  ];
  const dlg = openDialog({
    title: 'People', testid: 'admin-people-dialog', wide: true, body,
    onClose: () => document.removeEventListener('visibilitychange', onVisible),
  });
  dlg.el.classList.add('dialog-admin');
  roleSelect.focus();
  load();
  return dlg;
}

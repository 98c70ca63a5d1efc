// Dialogs of the workspace: new direct message, new group, channel browser, profile and status,
// notification settings, joining a meeting by code.
import { h, icon, toast, initials, avatarColor } from './ui.js';
import { STATUS_LABEL } from './format.js';
import { api } from './session.js';
import { parseJoinInput, meetingPath } from './home.js';

/**
 * Opens a modal dialog. Esc and the close button close it; focus returns to where it was.
 * @param {{title: string, testid: string, body: Node[], foot?: Node[], wide?: boolean, onClose?: () => void}} o
 */
export function openDialog(o) {
  const restore = document.activeElement;
  const closeBtn = h('button.icon-btn', { type: 'button', 'aria-label': 'Close', title: 'Close (Esc)', 'data-testid': 'dialog-close' }, icon('close', { size: 20 }));
  const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
  const el = h(`dialog.dialog${o.wide ? '.dialog-wide' : ''}`, { 'aria-labelledby': titleId, 'data-testid': o.testid },
    h('div.panel-head', null, h('h2', { id: titleId, text: o.title }), closeBtn),
    h('div.dialog-body', null, o.body),
    o.foot ? h('div.dialog-foot', null, o.foot) : null);
  document.body.appendChild(el);
  const close = () => {
    if (el.open) el.close();
  };
  closeBtn.addEventListener('click', close);
  el.addEventListener('click', (ev) => { if (ev.target === el) close(); });
  el.addEventListener('close', () => {
    el.remove();
    o.onClose?.();
    if (restore && restore.isConnected) restore.focus?.({ preventScroll: true });
  });
  el.showModal();
  return { el, close };
}

function personRow(client, u, { control, presence = true } = {}) {
  const st = client.presence.get(u.id)?.status || 'offline';
  return h('span.person-row', null,
    h('span.avatar-wrap', null,
      h('span.avatar.avatar-sm', { style: { background: avatarColor(u.id) }, text: initials(u.displayName || u.username), 'aria-hidden': 'true' }),
      presence ? h(`span.presence-dot.st-${st}`, { title: STATUS_LABEL[st] || st, 'data-status': st }) : null),
    h('span.person-text', null, h('span.person-name', { text: u.displayName || u.username }), h('span.person-sub', { text: `@${u.username}` })),
    control || null);
}

/** The directory, without ourselves and disabled accounts, sorted by name. */
function people(client) {
  const me = client.me?.id;
  return [...client.users.values()].filter((u) => u.id !== me && !u.disabled)
    .sort((a, b) => (a.displayName || a.username).localeCompare(b.displayName || b.username));
}

function filterInput(label, testid, onInput) {
  const input = h('input.input.input-light', { type: 'search', placeholder: label, 'aria-label': label, 'data-testid': testid, autocomplete: 'off' });
  input.addEventListener('input', () => onInput(input.value.trim().toLowerCase()));
  return input;
}

const matches = (u, q) => !q || u.username.includes(q) || (u.displayName || '').toLowerCase().includes(q);

/**
 * "New message": pick one person, open the direct conversation.
 * @param {import('/sdk/messaging.js').MessagingClient} client
 * @param {(conv: any) => void} open
 */
export async function newDirectDialog(client, open) {
  if (!client.users.size) await client.loadUsers().catch(() => {});
  const list = h('ul.pick-list', { role: 'list', 'aria-label': 'People' });
  const render = (q) => {
    list.replaceChildren();
    const found = people(client).filter((u) => matches(u, q));
    if (!found.length) list.appendChild(h('li.muted.pick-empty', { text: 'Nobody found.' }));
    for (const u of found) {
      const b = h('button.pick-item', { type: 'button', 'data-testid': 'user-option', 'data-user': u.id, 'data-username': u.username },
        personRow(client, u));
      b.addEventListener('click', async () => {
        b.disabled = true;
        try {
          const conv = await client.direct(u.id);
          dlg.close();
          open(conv);
        } catch (err) {
          b.disabled = false;
          toast(`Could not open the conversation: ${err.message}`, { kind: 'error' });
        }
      });
      list.appendChild(h('li', null, b));
    }
  };
  const search = filterInput('Search people', 'user-search', render);
  const dlg = openDialog({ title: 'New message', testid: 'new-direct-dialog', body: [search, list] });
  render('');
  search.focus();
}

/**
 * "New group": a name and some people.
 * @param {import('/sdk/messaging.js').MessagingClient} client
 * @param {(conv: any) => void} open
 */
export async function newGroupDialog(client, open) {
  if (!client.users.size) await client.loadUsers().catch(() => {});
  const chosen = new Set();
  const name = h('input.input.input-light', { type: 'text', id: 'group-name', maxlength: '80', required: true, 'data-testid': 'group-name', autocomplete: 'off' });
  const list = h('ul.pick-list', { role: 'list', 'aria-label': 'People to add' });
  const error = h('p.form-error', { role: 'alert', hidden: true });
  const render = (q) => {
    list.replaceChildren();
    for (const u of people(client).filter((x) => matches(x, q))) {
      const cb = h('input', { type: 'checkbox', 'data-testid': 'group-member', 'data-user': u.id, 'prop:checked': chosen.has(u.id), 'aria-label': `Add ${u.displayName || u.username}` });
      cb.addEventListener('change', () => (cb.checked ? chosen.add(u.id) : chosen.delete(u.id)));
      list.appendChild(h('li', null, h('label.pick-item', null, personRow(client, u, { control: cb }))));
    }
  };
  const search = filterInput('Search people', 'group-search', render);
  const create = h('button.btn.btn-primary', { type: 'submit', text: 'Create group', 'data-testid': 'group-create' });
  const form = h('form.dialog-form', null,
    h('div.field', null, h('label.field-label', { for: 'group-name', text: 'Group name' }), name),
    h('div.field', null, h('span.field-label', { text: 'People' }), search, list), error);
  const dlg = openDialog({ title: 'New group', testid: 'new-group-dialog', body: [form], foot: [create] });
  create.setAttribute('form', '');
  const submit = async (ev) => {
    ev?.preventDefault();
    if (!name.value.trim()) {
      error.textContent = 'Give the group a name.';
      error.hidden = false;
      name.focus();
      return;
    }
    create.disabled = true;
    try {
      const conv = await client.createGroup(name.value.trim(), [...chosen]);
      dlg.close();
      open(conv);
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
      create.disabled = false;
    }
  };
  form.addEventListener('submit', submit);
  create.addEventListener('click', submit);
  render('');
  name.focus();
}

/**
 * The channel browser: join a channel, or create one.
 * @param {import('/sdk/messaging.js').MessagingClient} client
 * @param {(conv: any) => void} open
 */
export async function channelsDialog(client, open) {
  const list = h('ul.pick-list', { role: 'list', 'aria-label': 'Channels' });
  const name = h('input.input.input-light', { type: 'text', id: 'channel-name', maxlength: '80', placeholder: 'e.g. general', 'data-testid': 'channel-name', autocomplete: 'off' });
  const topic = h('input.input.input-light', { type: 'text', id: 'channel-topic', maxlength: '250', placeholder: 'What is it about? (optional)', 'data-testid': 'channel-topic', autocomplete: 'off' });
  const createBtn = h('button.btn.btn-primary', { type: 'submit', text: 'Create channel', 'data-testid': 'channel-create' });
  const form = h('form.dialog-form.channel-create', null,
    h('h3.section-title', { text: 'Create a channel' }),
    h('div.field', null, h('label.field-label', { for: 'channel-name', text: 'Name' }), name),
    h('div.field', null, h('label.field-label', { for: 'channel-topic', text: 'Topic' }), topic),
    createBtn);
  const dlg = openDialog({ title: 'Channels', testid: 'channels-dialog', wide: true, body: [h('h3.section-title', { text: 'Browse channels' }), list, form] });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!name.value.trim()) { name.focus(); return; }
    createBtn.disabled = true;
    try {
      const conv = await client.createChannel(name.value.trim(), { topic: topic.value.trim() });
      dlg.close();
      open(conv);
    } catch (err) {
      toast(`Could not create the channel: ${err.message}`, { kind: 'error' });
      createBtn.disabled = false;
    }
  });
  list.appendChild(h('li.muted.pick-empty', { text: 'Loading…' }));
  try {
    const channels = await client.channels();
    list.replaceChildren();
    if (!channels.length) list.appendChild(h('li.muted.pick-empty', { text: 'No channels yet. Create the first one below.' }));
    for (const c of channels) {
      const action = c.member
        ? h('button.btn.btn-outline.btn-sm', { type: 'button', text: 'Open', onclick: () => { dlg.close(); open(client.conversations.get(c.id)); } })
        : h('button.btn.btn-primary.btn-sm', { type: 'button', text: 'Join', 'data-testid': 'channel-join', 'data-conversation': c.id });
      if (!c.member) {
        action.addEventListener('click', async () => {
          action.disabled = true;
          try {
            const conv = await client.join(c.id);
            dlg.close();
            open(conv);
          } catch (err) {
            action.disabled = false;
            toast(`Could not join: ${err.message}`, { kind: 'error' });
          }
        });
      }
      list.appendChild(h('li.channel-row', { 'data-testid': 'channel-item' },
        h('span.channel-hash', null, icon('tag', { size: 18 })),
        h('span.person-text', null, h('span.person-name', { text: c.name }), h('span.person-sub', { text: c.topic || 'No topic' })),
        action));
    }
  } catch (err) {
    list.replaceChildren(h('li.form-error', { text: `Could not list the channels: ${err.message}` }));
  }
}

/**
 * Profile and status: display name, presence status and text, sign out.
 * @param {import('/sdk/messaging.js').MessagingClient} client
 * @param {{signOut: () => void}} actions
 */
export function profileDialog(client, actions) {
  const me = client.me;
  const current = client.presence.get(me.id) || { status: 'available', text: '' };
  const name = h('input.input.input-light', { type: 'text', id: 'profile-name', maxlength: '64', 'data-testid': 'profile-name', autocomplete: 'name' });
  name.value = me.displayName || '';
  const statusChoice = ['available', 'away', 'busy', 'dnd'];
  const chosen = statusChoice.includes(current.status) ? current.status : 'available';
  const radios = h('div.status-options', { role: 'radiogroup', 'aria-label': 'Status' },
    statusChoice.map((s) => h('label.status-option', null,
      h('input', { type: 'radio', name: 'status', value: s, 'data-testid': `status-${s}`, 'prop:checked': s === chosen }),
      h(`span.presence-dot.st-${s}`, { 'aria-hidden': 'true' }),
      h('span', { text: STATUS_LABEL[s] }))));
  const text = h('input.input.input-light', { type: 'text', id: 'status-text', maxlength: '100', placeholder: 'What are you up to?', 'data-testid': 'status-text' });
  text.value = current.text || '';
  const save = h('button.btn.btn-primary', { type: 'button', text: 'Save', 'data-testid': 'profile-save' });
  const out = h('button.btn.btn-outline', { type: 'button', 'data-testid': 'sign-out' }, icon('logout', { size: 18 }), h('span', { text: 'Sign out' }));
  const body = [
    h('div.profile-head', null,
      h('span.avatar.avatar-lg2', { style: { background: avatarColor(me.id) }, text: initials(me.displayName || me.username), 'aria-hidden': 'true' }),
      h('div', null, h('div.person-name', { text: me.displayName || me.username }), h('div.person-sub', { text: `@${me.username} · ${me.role}` }))),
    h('div.field', null, h('label.field-label', { for: 'profile-name', text: 'Display name' }), name),
    h('fieldset.field', null, h('legend.field-label', { text: 'Status' }), radios),
    h('div.field', null, h('label.field-label', { for: 'status-text', text: 'Status message' }), text),
  ];
  const dlg = openDialog({ title: 'Profile and status', testid: 'profile-dialog', body, foot: [out, h('span.spacer'), save] });
  save.addEventListener('click', async () => {
    save.disabled = true;
    try {
      const status = radios.querySelector('input:checked')?.value || 'available';
      await client.setStatus(status, text.value.trim());
      if (name.value.trim() && name.value.trim() !== me.displayName) await client.setDisplayName(name.value.trim());
      toast('Profile saved');
      dlg.close();
    } catch (err) {
      toast(`Could not save: ${err.message}`, { kind: 'error' });
      save.disabled = false;
    }
  });
  out.addEventListener('click', () => {
    dlg.close();
    actions.signOut();
  });
  name.focus();
}

/**
 * Notification settings: browser notifications and Web Push for this browser, and the current
 * conversation's mute.
 * @param {import('./notify.js').Notifier} notifier
 */
export function notifyDialog(notifier) {
  const status = h('p.muted.small', { role: 'status' });
  const toggle = h('input', { type: 'checkbox', role: 'switch', 'data-testid': 'notify-enable', 'prop:checked': notifier.enabled() });
  const row = h('label.switch-row', null, h('span', { text: 'Show notifications from this browser' }),
    h('span.switch', null, toggle, h('span.switch-ui', { 'aria-hidden': 'true' })));
  const refresh = () => { status.textContent = notifier.describe(); toggle.checked = notifier.enabled(); };
  toggle.addEventListener('change', async () => {
    toggle.disabled = true;
    try {
      if (toggle.checked) await notifier.enable();
      else await notifier.disable();
    } catch (err) {
      toast(err.message, { kind: 'error' });
    } finally {
      toggle.disabled = false;
      refresh();
    }
  });
  refresh();
  const off = notifier.onChange(refresh);
  openDialog({
    title: 'Notifications', testid: 'notify-dialog', onClose: off,
    body: [row, status, h('p.muted.small', { text: 'You are notified of messages in direct conversations and groups, of mentions, and of calls. Mute a conversation from its header to silence it (mentions still notify). Do not disturb silences everything.' })],
  });
  toggle.focus();
}

/**
 * Join a meeting with a code or link.
 * @param {(path: string) => void} navigate
 */
export function joinMeetingDialog(navigate) {
  const input = h('input.input.input-light', { type: 'text', placeholder: 'Enter a code or link', 'aria-label': 'Meeting code or link', 'data-testid': 'join-code', autocomplete: 'off' });
  const error = h('p.form-error', { role: 'alert', hidden: true });
  const go = h('button.btn.btn-primary', { type: 'submit', text: 'Join', 'data-testid': 'join-code-button' });
  const form = h('form.dialog-form', null, input, error);
  const dlg = openDialog({ title: 'Join a meeting', testid: 'join-meeting-dialog', body: [form], foot: [go] });
  const submit = (ev) => {
    ev.preventDefault();
    const path = parseJoinInput(input.value);
    if (!path) {
      error.textContent = 'That does not look like a meeting code or link.';
      error.hidden = false;
      return;
    }
    dlg.close();
    navigate(path);
  };
  form.addEventListener('submit', submit);
  go.addEventListener('click', submit);
  input.focus();
}

/** Creates a meeting and goes to it. */
export async function newMeeting(navigate) {
  try {
    navigate(meetingPath(await api('/api/v1/rooms', { method: 'POST', body: {} })));
  } catch (err) {
    toast(`Could not create a meeting: ${err.message}`, { kind: 'error' });
  }
}

export { personRow };

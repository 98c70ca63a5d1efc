// One message of a conversation as DOM: author, text (links and mentions as nodes, never HTML),
// attachments, reactions, thread link, receipts and the hover actions. Call and system entries get
// one-line rows.
import { h, icon, initials, avatarColor, formatSize } from './ui.js';
import { richText, callText, systemText, shortWhen, fullWhen, dayLabel, sameDay } from './format.js';
import { QUICK } from './emoji.js';

/** Messages by the same person within this long are grouped under one header. */
const GROUP_MS = 5 * 60 * 1000;

/**
 * @typedef {Object} MessageContext
 * @property {import('/sdk/messaging.js').MessagingClient} client
 * @property {import('/sdk/messaging.js').Conversation} conv
 * @property {boolean} [inThread]  rendering inside the thread panel
 * @property {number} [unreadFrom] seq of the first unread message (a "New" divider goes above it)
 * @property {(msg: any, emoji: string, add: boolean) => void} onReact
 * @property {(msg: any, anchor: HTMLElement) => void} onReactPicker
 * @property {(msg: any) => void} onReply
 * @property {(msg: any) => void} onThread
 * @property {(msg: any, el: HTMLElement) => void} onEdit
 * @property {(msg: any) => void} onDelete
 * @property {(seq: number) => void} onJump
 */

/** Usernames (lowercase) → user id, for recognising @mentions. */
export function usernameMap(client) {
  const m = new Map();
  for (const u of client.users.values()) if (u.username) m.set(u.username.toLowerCase(), u.id);
  if (client.me) m.set(client.me.username, client.me.id);
  return m;
}

/** An avatar with the person's initials. */
export function avatar(client, userId, size = '') {
  const name = client.displayName(userId);
  return h(`div.avatar${size ? `.avatar-${size}` : ''}`, { style: { background: avatarColor(userId) }, text: initials(name), 'aria-hidden': 'true' });
}

/**
 * Renders a timeline item: an optional day divider and "new messages" divider, then the message.
 * @param {any} msg
 * @param {any|null} prev the message before it in the timeline (for grouping and day dividers)
 * @param {MessageContext} ctx
 */
export function renderItem(msg, prev, ctx) {
  const item = h('div.tl-item', { 'data-seq': String(msg.seq) });
  if (!prev || !sameDay(prev.at, msg.at)) {
    item.appendChild(h('div.day-divider', { role: 'separator' }, h('span', { text: dayLabel(msg.at) })));
  }
  if (ctx.unreadFrom && msg.seq === ctx.unreadFrom) {
    item.appendChild(h('div.new-divider', { role: 'separator', 'data-testid': 'new-divider' }, h('span', { text: 'New' })));
  }
  item.appendChild(renderMessage(msg, prev, ctx));
  return item;
}

/**
 * @param {any} msg
 * @param {any|null} prev
 * @param {MessageContext} ctx
 */
export function renderMessage(msg, prev, ctx) {
  const { client } = ctx;
  const me = client.me?.id;
  if (msg.kind === 'call') {
    const c = callText(msg, me);
    return h(`div.msg-event.msg-call${c.missed ? '.missed' : ''}`, { 'data-testid': 'call-entry', 'data-seq': String(msg.seq), 'data-outcome': msg.data?.outcome || '' },
      h('span.event-icon', null, icon(c.video ? 'cam' : 'phone', { size: 16 })),
      h('span.event-text', { text: `${c.text}` }),
      h('time.event-time', { datetime: msg.at, title: fullWhen(msg.at), text: shortWhen(msg.at) }));
  }
  if (msg.kind === 'system') {
    return h('div.msg-event.msg-system', { 'data-testid': 'system-entry', 'data-seq': String(msg.seq) },
      h('span.event-text', { text: systemText(msg, (id) => client.displayName(id)) }),
      h('time.event-time', { datetime: msg.at, title: fullWhen(msg.at), text: shortWhen(msg.at) }));
  }
  const mine = msg.sender === me;
  const cont = !!prev && prev.kind === 'text' && prev.sender === msg.sender && !prev.deletedAt &&
    new Date(msg.at) - new Date(prev.at) < GROUP_MS && sameDay(prev.at, msg.at) && !msg.reply;
  const el = h(`div.msg${cont ? '.cont' : ''}${mine ? '.mine' : ''}`, {
    'data-testid': 'message', 'data-seq': String(msg.seq), 'data-sender': msg.sender, tabindex: '-1',
  });
  // A grouped message shows no author; screen readers still get it.
  if (cont) el.appendChild(h('span.visually-hidden', { text: `${mine ? 'You' : client.displayName(msg.sender)}: ` }));
  const mentioned = me && (msg.data?.mentions?.includes(me) || msg.data?.everyone) && !mine;
  if (mentioned) el.classList.add('mentioned');

  const gutter = h('div.msg-gutter');
  if (!cont) gutter.appendChild(avatar(client, msg.sender));
  else gutter.appendChild(h('time.msg-time-hover', { datetime: msg.at, title: fullWhen(msg.at), text: shortWhen(msg.at).replace(/^\D+$/, '') }));
  const main = h('div.msg-main');
  if (!cont) {
    main.appendChild(h('div.msg-head', null,
      h('span.msg-author', { text: client.displayName(msg.sender) }),
      h('time.msg-time', { datetime: msg.at, title: fullWhen(msg.at), text: shortWhen(msg.at) })));
  }
  if (msg.reply && !msg.deletedAt) main.appendChild(renderQuote(msg.reply, ctx));

  if (msg.deletedAt) {
    main.appendChild(h('div.msg-text.msg-deleted', { 'data-testid': 'message-text', text: 'This message was deleted' }));
  } else {
    if (msg.text) {
      const text = h('div.msg-text', { 'data-testid': 'message-text' }, richText(msg.text, { usernames: ctx.usernames || usernameMap(client), me }));
      if (msg.editedAt) text.appendChild(h('span.msg-edited', { title: fullWhen(msg.editedAt), text: ' (edited)' }));
      main.appendChild(text);
    }
    const files = msg.data?.attachments || [];
    if (files.length) main.appendChild(renderAttachments(files));
  }
  if (msg.reactions?.length && !msg.deletedAt) main.appendChild(renderReactions(msg, ctx));
  if (!ctx.inThread && msg.replies > 0 && !msg.thread) {
    main.appendChild(h('button.thread-link', {
      type: 'button', 'data-testid': 'thread-link', onclick: () => ctx.onThread(msg),
    }, icon('chat', { size: 14 }), h('span', { text: `${msg.replies} ${msg.replies === 1 ? 'reply' : 'replies'}` })));
  }
  if (mine && !msg.deletedAt && !ctx.inThread) {
    main.appendChild(h('div.msg-foot', null, receiptEl(ctx.conv.receiptState(msg.seq))));
  }
  el.append(gutter, main);
  if (!msg.deletedAt) el.appendChild(renderActions(msg, mine, ctx));
  return el;
}

/** The ✓ / ✓✓ mark of one of our messages. */
export function receiptEl(state) {
  const label = { sent: 'Sent', delivered: 'Delivered', read: 'Read' }[state] || 'Sent';
  const mark = { sent: '○', delivered: '✓', read: '✓✓' }[state] || '○';
  return h(`span.receipt.receipt-${state}`, { 'data-testid': 'receipt', 'data-status': state, title: label, 'aria-label': label, text: mark });
}

function renderQuote(seq, ctx) {
  const q = ctx.conv.message(seq);
  const who = q ? ctx.client.displayName(q.sender) : '';
  const text = !q ? 'Original message' : q.deletedAt ? 'Message deleted' : (q.text || (q.data?.attachments?.[0]?.name ?? '')).slice(0, 200);
  return h('button.msg-quote', { type: 'button', 'data-testid': 'reply-quote', title: 'Show the original message', onclick: () => ctx.onJump(seq) },
    who ? h('span.quote-author', { text: who }) : null, h('span.quote-text', { text }));
}

/** Only links to this server's files are followed (defence in depth: the server builds them). */
function ownURL(u) {
  try {
    const url = new URL(u, location.origin);
    return url.origin === location.origin ? url.pathname + url.search : null;
  } catch {
    return null;
  }
}

function renderAttachments(files) {
  const box = h('div.msg-files');
  for (const raw of files) {
    const url = ownURL(raw.url);
    if (!url) continue;
    const f = { ...raw, url, thumb: raw.thumb ? ownURL(raw.thumb) : null };
    const isImage = /^image\/(png|jpeg|gif|webp)$/.test(f.type || '');
    if (isImage) {
      box.appendChild(h('a.file-image', { href: f.url, target: '_blank', rel: 'noopener', 'data-testid': 'attachment', title: f.name },
        h('img', { src: f.thumb || f.url, alt: f.name || 'image', loading: 'lazy', decoding: 'async', 'data-testid': 'attachment-image' })));
    } else {
      box.appendChild(h('a.file-card', { href: f.url, download: f.name || 'file', rel: 'noopener', 'data-testid': 'attachment' },
        h('span.file-icon', null, icon('file', { size: 22 })),
        h('span.file-info', null, h('span.file-name', { text: f.name || 'file' }), h('span.file-size', { text: formatSize(f.size) }))));
    }
  }
  return box;
}

function renderReactions(msg, ctx) {
  const me = ctx.client.me?.id;
  const groups = new Map();
  for (const r of msg.reactions) {
    if (!groups.has(r.emoji)) groups.set(r.emoji, []);
    groups.get(r.emoji).push(r.user);
  }
  const row = h('div.msg-reactions', { role: 'group', 'aria-label': 'Reactions' });
  for (const [emoji, users] of groups) {
    const mine = users.includes(me);
    const names = users.map((u) => (u === me ? 'you' : ctx.client.displayName(u))).join(', ');
    row.appendChild(h(`button.reaction${mine ? '.mine' : ''}`, {
      type: 'button', 'data-testid': 'reaction', 'data-emoji': emoji, 'data-count': String(users.length),
      'aria-pressed': String(mine), title: `${names} reacted with ${emoji}`,
      'aria-label': `${emoji} ${users.length}: ${names}`,
      onclick: () => ctx.onReact(msg, emoji, !mine),
    }, h('span.reaction-emoji', { text: emoji }), h('span.reaction-count', { text: String(users.length) })));
  }
  const add = h('button.reaction.reaction-add', { type: 'button', 'aria-label': 'Add a reaction', title: 'Add a reaction' }, icon('addReaction', { size: 16 }));
  add.addEventListener('click', () => ctx.onReactPicker(msg, add));
  row.appendChild(add);
  return row;
}

function renderActions(msg, mine, ctx) {
  const bar = h('div.msg-actions', { role: 'toolbar', 'aria-label': 'Message actions' });
  const btn = (name, label, testid, fn) => {
    const b = h('button.icon-btn.icon-btn-xs', { type: 'button', 'aria-label': label, title: label, 'data-testid': testid }, icon(name, { size: 18 }));
    b.addEventListener('click', (ev) => { ev.stopPropagation(); fn(b); });
    return b;
  };
  for (const e of QUICK.slice(0, 3)) {
    bar.appendChild(h('button.icon-btn.icon-btn-xs.quick-react', {
      type: 'button', 'aria-label': `React with ${e}`, title: `React with ${e}`, 'data-testid': 'quick-react', 'data-emoji': e, text: e,
      onclick: (ev) => {
        ev.stopPropagation();
        const has = msg.reactions.some((r) => r.user === ctx.client.me?.id && r.emoji === e);
        ctx.onReact(msg, e, !has);
      },
    }));
  }
  bar.appendChild(btn('addReaction', 'Add a reaction', 'react-button', (b) => ctx.onReactPicker(msg, b)));
  if (!ctx.inThread) {
    bar.appendChild(btn('reply', 'Reply', 'reply-button', () => ctx.onReply(msg)));
    if (!msg.thread) bar.appendChild(btn('thread', 'Reply in thread', 'thread-button', () => ctx.onThread(msg)));
  }
  if (mine) {
    bar.appendChild(btn('edit', 'Edit', 'edit-button', () => ctx.onEdit(msg)));
    bar.appendChild(btn('delete', 'Delete', 'delete-button', () => ctx.onDelete(msg)));
  }
  return bar;
}

/**
 * Turns a message's text into an inline editor. Enter saves, Shift+Enter is a new line, Esc cancels.
 * @param {HTMLElement} el the message element
 * @param {any} msg
 * @param {(text: string) => Promise<void>} save
 * @param {() => void} done called after saving or cancelling
 */
export function editInline(el, msg, save, done) {
  const textEl = el.querySelector('.msg-text');
  const area = h('textarea.edit-input', { 'aria-label': 'Edit message', 'data-testid': 'edit-input', rows: '2' });
  area.value = msg.text || '';
  const hint = h('div.edit-hint', null, 'Enter to save · Esc to cancel');
  const box = h('div.edit-box', null, area, hint);
  if (textEl) textEl.replaceWith(box);
  else el.querySelector('.msg-main')?.appendChild(box);
  el.classList.add('editing');
  const grow = () => { area.style.height = 'auto'; area.style.height = `${Math.min(area.scrollHeight, 240)}px`; };
  grow();
  area.addEventListener('input', grow);
  area.focus();
  area.setSelectionRange(area.value.length, area.value.length);
  let busy = false;
  area.addEventListener('keydown', async (ev) => {
    if (ev.key === 'Escape') {
      ev.preventDefault();
      ev.stopPropagation();
      done();
    } else if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      const text = area.value.trim();
      if (busy) return;
      if (!text || text === msg.text) {
        done();
        return;
      }
      busy = true;
      try {
        await save(text);
        done();
      } catch {
        busy = false;
      }
    }
  });
}

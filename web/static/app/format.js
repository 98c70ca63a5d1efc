// Formatting for the messaging screens: times, message text with links and mentions (as DOM nodes,
// never HTML), and the sentences shown for call and system entries.
import { h } from './ui.js';

const DAY = 24 * 60 * 60 * 1000;

/** "14:05" today, "Tue" this week, "3 Nov" this year, else a date. */
export function shortWhen(at) {
  const d = new Date(at);
  if (Number.isNaN(d.getTime())) return '';
  const now = new Date();
  if (sameDay(d, now)) return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (now - d < 6 * DAY) return d.toLocaleDateString([], { weekday: 'short' });
  if (d.getFullYear() === now.getFullYear()) return d.toLocaleDateString([], { day: 'numeric', month: 'short' });
  return d.toLocaleDateString();
}

/** "Today", "Yesterday", or a long date: the label of a day divider. */
export function dayLabel(at) {
  const d = new Date(at);
  const now = new Date();
  if (sameDay(d, now)) return 'Today';
  if (sameDay(d, new Date(now - DAY))) return 'Yesterday';
  return d.toLocaleDateString([], { weekday: 'long', day: 'numeric', month: 'long', year: d.getFullYear() === now.getFullYear() ? undefined : 'numeric' });
}

export function sameDay(a, b) {
  const x = a instanceof Date ? a : new Date(a);
  const y = b instanceof Date ? b : new Date(b);
  return x.getFullYear() === y.getFullYear() && x.getMonth() === y.getMonth() && x.getDate() === y.getDate();
}

/** A full date and time for tooltips. */
export function fullWhen(at) {
  const d = new Date(at);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleString();
}

/** "3 min", "1 h 5 min", "45 s". */
export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds || 0));
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h${m % 60 ? ` ${m % 60} min` : ''}`;
}

const URL_RE = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]}]/g;
const MENTION_RE = /(^|[^\w@])@([a-z0-9._-]{1,32})/gi;

/**
 * Builds the nodes of a message text: plain text, links (http and https only) and @mentions.
 * Everything is text nodes or elements made with the DOM: nothing is parsed as HTML.
 * @param {string} text
 * @param {{usernames: Map<string, string>, me?: string}} ctx usernames (lowercase) → user id
 * @returns {Node[]}
 */
export function richText(text, ctx) {
  const out = [];
  let last = 0;
  const tokens = [];
  for (const m of String(text).matchAll(URL_RE)) tokens.push({ start: m.index, end: m.index + m[0].length, kind: 'url', value: m[0] });
  for (const m of String(text).matchAll(MENTION_RE)) {
    const start = m.index + m[1].length;
    const name = m[2].toLowerCase().replace(/\.+$/, '');
    const end = start + 1 + name.length;
    const special = name === 'channel' || name === 'here' || name === 'everyone';
    if (!special && !ctx.usernames.has(name)) continue;
    if (tokens.some((t) => start < t.end && end > t.start)) continue;
    tokens.push({ start, end, kind: 'mention', value: name, user: ctx.usernames.get(name) });
  }
  tokens.sort((a, b) => a.start - b.start);
  for (const t of tokens) {
    if (t.start < last) continue;
    if (t.start > last) out.push(document.createTextNode(text.slice(last, t.start)));
    if (t.kind === 'url') {
      out.push(h('a.msg-link', { href: t.value, target: '_blank', rel: 'noopener noreferrer nofollow', text: t.value }));
    } else {
      const self = ctx.me && t.user === ctx.me;
      out.push(h(`span.mention${self || !t.user ? '.mention-me' : ''}`, { text: `@${t.value}`, 'data-user': t.user || '' }));
    }
    last = t.end;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}

/**
 * The sentence for a call entry, from the point of view of `me`.
 * @param {{sender: string, data?: any}} msg
 * @param {string} me
 * @returns {{text: string, missed: boolean, video: boolean}}
 */
export function callText(msg, me) {
  const d = msg.data || {};
  const mine = msg.sender === me;
  const kind = d.video ? 'Video call' : 'Call';
  switch (d.outcome) {
    case 'answered': return { text: `${kind}, ${duration(d.duration)}`, missed: false, video: !!d.video };
    case 'missed': return { text: mine ? `${kind}, no answer` : `Missed ${kind.toLowerCase()}`, missed: !mine, video: !!d.video };
    case 'declined': return { text: `${kind} declined`, missed: false, video: !!d.video };
    case 'busy': return { text: mine ? `${kind}: busy` : `Missed ${kind.toLowerCase()} (you were busy)`, missed: !mine, video: !!d.video };
    case 'cancelled': return { text: mine ? `${kind} cancelled` : `Missed ${kind.toLowerCase()}`, missed: !mine, video: !!d.video };
    case 'failed': return { text: `${kind} failed`, missed: false, video: !!d.video };
    default: return { text: kind, missed: false, video: !!d.video };
  }
}

/**
 * The sentence for a system entry (created, joined, left, added, updated).
 * @param {{sender: string, data?: any}} msg
 * @param {(id: string) => string} name display name of a user id
 */
export function systemText(msg, name) {
  const d = msg.data || {};
  const who = name(msg.sender);
  switch (d.action) {
    case 'created': return `${who} created ${d.name ? `“${d.name}”` : 'this conversation'}`;
    case 'joined': return `${name(d.user || msg.sender)} joined`;
    case 'left': return `${name(d.user || msg.sender)} left`;
    case 'added': return `${who} added ${(d.users || []).map(name).join(', ') || 'people'}`;
    case 'updated': {
      const parts = [];
      if (d.name !== undefined) parts.push(`renamed the conversation to “${d.name}”`);
      if (d.topic !== undefined) parts.push(d.topic ? `set the topic to “${d.topic}”` : 'cleared the topic');
      if (d.archived !== undefined) parts.push(d.archived ? 'archived the conversation' : 'unarchived the conversation');
      return `${who} ${parts.join(' and ') || 'changed the conversation'}`;
    }
    default: return `${who} changed the conversation`;
  }
}

/** Human labels of presence statuses. */
export const STATUS_LABEL = {
  available: 'Available', away: 'Away', busy: 'Busy', dnd: 'Do not disturb', in_call: 'In a call', offline: 'Offline',
};

/** A one-line preview of a message for the conversation list. */
export function preview(msg, me, name) {
  if (!msg) return '';
  if (msg.kind === 'call') return callText(msg, me).text;
  if (msg.kind === 'system') return systemText(msg, name);
  if (msg.deletedAt) return 'Message deleted';
  const files = msg.data?.attachments?.length || 0;
  const text = (msg.text || '').replace(/\s+/g, ' ').trim() || (files ? `📎 ${msg.data.attachments[0].name}` : '');
  return msg.sender === me ? `You: ${text}` : text;
}

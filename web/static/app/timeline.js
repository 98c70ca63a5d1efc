// The message list of a conversation, with a bounded DOM.
//
// The SDK keeps every loaded message in `conv.messages` (oldest first); the list renders a window of
// at most MAX_RENDERED of them. Scrolling near the top moves the window up a page (loading older
// history from the server when the window reaches the oldest loaded message); scrolling near the
// bottom moves it down. Nodes that leave the window are removed, and the element the person is
// looking at keeps its place on screen whatever is added or removed around it. A conversation of
// 10,000 messages therefore costs a few hundred nodes, however far back one scrolls.
import { h, icon, toast } from './ui.js';
import { renderItem, renderMessage, receiptEl, usernameMap, editInline } from './messages.js';
import { openPicker } from './emoji.js';

const PAGE = 50;
const MAX_RENDERED = 150;
/** Within this many pixels of an end, the window moves (or older history loads). */
const EDGE_PX = 700;
/** Within this many pixels of the bottom, new messages keep the list scrolled to the bottom. */
const STICK_PX = 80;

/**
 * @param {import('/sdk/messaging.js').MessagingClient} client
 * @param {import('/sdk/messaging.js').Conversation} conv
 * @param {{onReply: Function, onThread: Function, onSeen: () => void}} opts
 */
export function createTimeline(client, conv, opts) {
  const top = h('div.timeline-top');
  const items = h('div.timeline-items');
  const pendingBox = h('div.timeline-pending');
  // A log, but not a live region: pages of history come and go as one scrolls. New messages from
  // others are announced through `announcer` instead.
  const scroller = h('div.timeline', {
    role: 'log', 'aria-live': 'off', 'aria-label': `Messages in ${conv.title}. Use the arrow keys to move between messages.`,
    tabindex: '0', 'data-testid': 'message-list',
  }, top, items, pendingBox);
  const jump = h('button.jump-latest', { type: 'button', 'data-testid': 'jump-latest', hidden: true },
    icon('arrowDown', { size: 18 }), h('span', { text: 'Jump to latest' }));
  const announcer = h('div.visually-hidden', { role: 'status', 'aria-live': 'polite' });
  const el = h('div.timeline-wrap', null, scroller, jump, announcer);

  /** @type {Map<number, HTMLElement>} rendered items by seq */
  const rendered = new Map();
  /** Window: indices into conv.messages, as the seqs at its ends (indices move when history loads). */
  let firstSeq = 0;
  let lastSeq = 0;
  let destroyed = false;
  let loading = false;
  let scrollQueued = false;
  let unreadFrom = 0;
  let highlight = 0;
  let editing = 0;
  let opening = false;

  const ctx = {
    client, conv, usernames: usernameMap(client),
    get unreadFrom() { return unreadFrom; },
    onReact: (msg, emoji, add) => client.react(conv.id, msg.seq, emoji, add).catch((e) => toast(`Could not react: ${e.message}`, { kind: 'error' })),
    onReactPicker: (msg, anchor) => openPicker(anchor, (emoji) => {
      const has = msg.reactions.some((r) => r.user === client.me?.id && r.emoji === emoji);
      ctx.onReact(msg, emoji, !has);
    }, { label: 'Add a reaction' }),
    onReply: (msg) => opts.onReply(msg),
    onThread: (msg) => opts.onThread(msg),
    onEdit: (msg) => startEdit(msg),
    onDelete: (msg) => {
      if (!window.confirm('Delete this message? Everyone in the conversation will see that it was deleted.')) return;
      client.delete(conv.id, msg.seq).catch((e) => toast(`Could not delete: ${e.message}`, { kind: 'error' }));
    },
    onJump: (seq) => jumpTo(seq),
  };

  // ------------------------------------------------------------------ window arithmetic
  const msgs = () => conv.messages;
  function indexOf(seq) {
    const list = msgs();
    let lo = 0;
    let hi = list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid].seq === seq) return mid;
      if (list[mid].seq < seq) lo = mid + 1;
      else hi = mid - 1;
    }
    return lo; // where it would be
  }
  /** The window as [start, end) indices. */
  function range() {
    if (!rendered.size) return [msgs().length, msgs().length];
    return [indexOf(firstSeq), indexOf(lastSeq) + 1];
  }
  const atLiveEnd = () => range()[1] >= msgs().length;
  const distanceFromBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight;

  // ------------------------------------------------------------------ rendering
  /** The item at the top of the viewport and its offset, to keep it in place across changes. */
  function anchor() {
    const st = scroller.scrollTop;
    for (const child of items.children) {
      if (child.offsetTop + child.offsetHeight > st) return { el: child, offset: child.offsetTop - st };
    }
    return null;
  }

  /**
   * Renders conv.messages[start, end): keeps nodes that stay, removes the others, builds the new ones,
   * and puts the anchor back where it was.
   */
  function render(start, end, { keep = true } = {}) {
    const list = msgs();
    start = Math.max(0, Math.min(start, list.length));
    end = Math.max(start, Math.min(end, list.length));
    const a = keep ? anchor() : null;
    const want = new Set();
    for (let i = start; i < end; i++) want.add(list[i].seq);
    for (const [seq, node] of rendered) {
      if (!want.has(seq)) {
        node.remove();
        rendered.delete(seq);
      }
    }
    for (let i = start; i < end; i++) {
      const msg = list[i];
      const prev = i > 0 ? list[i - 1] : null;
      let node = rendered.get(msg.seq);
      if (node && node._prev !== (prev ? prev.seq : 0)) {
        // Its neighbour changed (older history arrived): grouping or the day divider may differ.
        const fresh = build(msg, prev);
        node.replaceWith(fresh);
        node = fresh;
        rendered.set(msg.seq, node);
      }
      if (!node) {
        node = build(msg, prev);
        rendered.set(msg.seq, node);
      }
      const at = items.children[i - start];
      if (at !== node) items.insertBefore(node, at || null);
    }
    while (items.children.length > end - start) items.lastChild.remove();
    firstSeq = end > start ? list[start].seq : 0;
    lastSeq = end > start ? list[end - 1].seq : 0;
    if (a && a.el.isConnected) scroller.scrollTop = a.el.offsetTop - a.offset;
    updateTop();
    updateReceipts();
    renderPending();
    jump.hidden = atLiveEnd() && distanceFromBottom() < 400;
  }

  function build(msg, prev) {
    const node = renderItem(msg, prev, ctx);
    node._prev = prev ? prev.seq : 0;
    if (msg.seq === highlight) node.classList.add('highlight');
    return node;
  }

  /** Re-renders one message in place (edited, deleted, reacted to, replied to). */
  function refresh(msg) {
    const node = rendered.get(msg.seq);
    if (!node || editing === msg.seq) return;
    const i = indexOf(msg.seq);
    const prev = i > 0 ? msgs()[i - 1] : null;
    const a = anchor();
    const fresh = build(msg, prev);
    node.replaceWith(fresh);
    rendered.set(msg.seq, fresh);
    if (a && a.el === node) scroller.scrollTop = fresh.offsetTop - a.offset;
    else if (a && a.el.isConnected) scroller.scrollTop = a.el.offsetTop - a.offset;
    updateReceipts();
  }

  function updateTop() {
    const [start] = range();
    top.replaceChildren();
    if (loading) {
      top.appendChild(h('div.timeline-loading', { 'data-testid': 'history-loading', role: 'status' },
        h('span.spinner.spinner-sm', { 'aria-hidden': 'true' }), h('span', { text: 'Loading earlier messages…' })));
    } else if (start === 0 && !conv.hasMore) {
      top.appendChild(h('div.timeline-start', { 'data-testid': 'conversation-start' },
        h('h3', { text: conv.kind === 'direct' ? conv.title : conv.title }),
        h('p.muted', { text: conv.kind === 'direct' ? `This is the beginning of your conversation with ${conv.title}.`
          : `This is the beginning of ${conv.kind === 'channel' ? 'the channel' : 'the group'} ${conv.title}.` })));
    }
  }

  /** Receipt marks of our messages, and "Seen by" under our latest message in a group. */
  function updateReceipts() {
    const me = client.me?.id;
    for (const node of items.querySelectorAll('.msg.mine [data-testid="receipt"]')) {
      const seq = Number(node.closest('.msg').dataset.seq);
      const state = conv.receiptState(seq);
      if (node.dataset.status !== state) node.replaceWith(receiptEl(state));
    }
    items.querySelector('[data-testid="seen-by"]')?.remove();
    if (conv.kind === 'direct') return;
    const list = msgs();
    for (let i = list.length - 1; i >= 0 && i >= list.length - 200; i--) {
      const m = list[i];
      if (m.sender !== me || m.kind !== 'text' || m.deletedAt) continue;
      const node = rendered.get(m.seq);
      const seen = conv.seenBy(m.seq);
      if (node && seen.length) {
        const names = seen.map((u) => client.displayName(u));
        const text = names.length > 3 ? `Seen by ${names.slice(0, 3).join(', ')} and ${names.length - 3} more` : `Seen by ${names.join(', ')}`;
        node.querySelector('.msg-foot')?.appendChild(h('span.seen-by', { 'data-testid': 'seen-by', title: names.join(', '), text }));
      }
      break;
    }
  }

  /** Sends that the server has not acknowledged yet, under the list. */
  function renderPending() {
    pendingBox.replaceChildren();
    if (!atLiveEnd()) return;
    for (const p of conv.pending) {
      if (p.thread) continue;
      const failed = p.state === 'failed';
      const row = h(`div.msg.mine.pending${failed ? '.failed' : ''}`, { 'data-testid': 'pending-message', 'data-txn': p.txn },
        h('div.msg-gutter'),
        h('div.msg-main', null,
          p.text ? h('div.msg-text', { text: p.text }) : null,
          p.files?.length ? h('div.msg-text.muted', { text: `${p.files.length} file${p.files.length > 1 ? 's' : ''}` }) : null,
          h('div.msg-foot', null, failed
            ? h('span.pending-failed', null,
              h('span', { text: `Not sent: ${p.error?.message || 'error'}. ` }),
              h('button.btn-link', { type: 'button', text: 'Retry', onclick: () => client.retry(conv.id, p.txn).catch(() => {}) }),
              ' · ',
              h('button.btn-link', { type: 'button', text: 'Discard', onclick: () => client.discard(conv.id, p.txn) }))
            : h('span.receipt.receipt-pending', { title: 'Sending', 'aria-label': 'Sending', text: '🕓' }))));
      pendingBox.appendChild(row);
    }
  }

  // ------------------------------------------------------------------ moving the window
  async function loadOlder() {
    if (loading || !conv.hasMore || destroyed) return;
    loading = true;
    updateTop();
    try {
      await client.loadOlder(conv.id, PAGE);
    } catch (err) {
      if (!destroyed) toast(`Could not load earlier messages: ${err.message}`, { kind: 'error' });
    } finally {
      loading = false;
    }
    if (destroyed) return;
    updateTop();
    onScroll();
  }

  /** Moves the window when the person scrolled near one of its ends. */
  function check() {
    if (destroyed || editing) return;
    const [start, end] = range();
    const len = msgs().length;
    if (scroller.scrollTop < EDGE_PX) {
      if (start > 0) {
        const ns = Math.max(0, start - PAGE);
        render(ns, Math.min(end, ns + MAX_RENDERED));
        // Fetch the next older page ahead, so scrolling on rarely waits for the server.
        if (ns < PAGE && conv.hasMore) loadOlder();
        if (scroller.scrollTop < EDGE_PX) queueCheck();
        return;
      }
      if (conv.hasMore) {
        loadOlder();
        return;
      }
    }
    if (distanceFromBottom() < EDGE_PX && end < len) {
      const ne = Math.min(len, end + PAGE);
      render(Math.max(start, ne - MAX_RENDERED), ne);
      queueCheck();
      return;
    }
    jump.hidden = atLiveEnd() && distanceFromBottom() < 400;
    if (atLiveEnd() && distanceFromBottom() < STICK_PX) opts.onSeen();
  }

  function queueCheck() {
    if (scrollQueued) return;
    scrollQueued = true;
    requestAnimationFrame(() => {
      scrollQueued = false;
      check();
    });
  }
  const onScroll = () => queueCheck();
  scroller.addEventListener('scroll', onScroll, { passive: true });

  // Keyboard: the arrow keys move between messages (a focused message shows its actions, which Tab
  // then reaches); Home and End go to the first and last loaded; Escape returns to the composer.
  scroller.addEventListener('keydown', (ev) => {
    if (ev.target.closest('textarea, input')) return;
    const all = [...items.querySelectorAll('.msg, .msg-event')];
    if (!all.length) return;
    const cur = ev.target.closest('.msg, .msg-event');
    let next = null;
    if (ev.key === 'ArrowUp') next = cur ? all[all.indexOf(cur) - 1] : all[all.length - 1];
    else if (ev.key === 'ArrowDown') next = cur ? all[all.indexOf(cur) + 1] : null;
    else if (ev.key === 'Home' && cur) next = all[0];
    else if (ev.key === 'End' && cur) next = all[all.length - 1];
    else if (ev.key === 'Escape' && cur) {
      ev.preventDefault();
      opts.focusComposer?.();
      return;
    } else return;
    ev.preventDefault();
    if (!next) return;
    next.setAttribute('tabindex', '-1');
    next.focus({ preventScroll: true });
    next.scrollIntoView({ block: 'nearest' });
  });

  /** Shows the newest page, scrolled to the bottom. */
  function showLatest() {
    const len = msgs().length;
    render(Math.max(0, len - PAGE), len, { keep: false });
    scrollToBottom();
    queueCheck();
  }

  function scrollToBottom() {
    scroller.scrollTop = scroller.scrollHeight;
  }

  jump.addEventListener('click', () => {
    showLatest();
    scroller.focus({ preventScroll: true });
  });

  /** Scrolls to a message, loading older history until it is found (at most 40 pages). */
  async function jumpTo(seq) {
    for (let pages = 0; indexOf(seq) >= msgs().length || msgs()[indexOf(seq)]?.seq !== seq; pages++) {
      if (!conv.hasMore || pages >= 40) {
        toast('That message is too far back to show here.');
        return;
      }
      loading = true;
      updateTop();
      try {
        await client.loadOlder(conv.id, 100);
      } catch (err) {
        toast(`Could not load earlier messages: ${err.message}`, { kind: 'error' });
        return;
      } finally {
        loading = false;
      }
      if (destroyed) return;
    }
    const i = indexOf(seq);
    const start = Math.max(0, i - PAGE / 2);
    highlight = seq;
    render(start, Math.min(msgs().length, start + PAGE + PAGE / 2), { keep: false });
    const node = rendered.get(seq);
    if (node) {
      node.scrollIntoView({ block: 'center' });
      node.classList.add('highlight');
      node.querySelector('.msg')?.focus({ preventScroll: true });
      setTimeout(() => { node.classList.remove('highlight'); if (highlight === seq) highlight = 0; }, 2500);
    }
    queueCheck();
  }

  function startEdit(msg) {
    const node = rendered.get(msg.seq);
    const msgEl = node?.querySelector('.msg');
    if (!msgEl) return;
    editing = msg.seq;
    editInline(msgEl, msg, (text) => client.edit(conv.id, msg.seq, text).catch((e) => {
      toast(`Could not edit: ${e.message}`, { kind: 'error' });
      throw e;
    }), () => {
      editing = 0;
      refresh(msg);
      opts.focusComposer?.();
    });
  }

  // ------------------------------------------------------------------ client events
  const offs = [];
  offs.push(client.on('message', (msg, c) => {
    if (c !== conv || msg.thread) return;
    const len = msgs().length;
    let [start, end] = range();
    if (!rendered.size) [start, end] = [Math.max(0, len - PAGE), len - 1]; // an empty conversation
    const wasLive = end >= len - 1; // the window reached the newest message before this one
    if (!wasLive) {
      jump.hidden = false;
      return;
    }
    const stick = distanceFromBottom() < STICK_PX || msg.sender === client.me?.id;
    let ns = start;
    if (stick && len - start > MAX_RENDERED) ns = len - MAX_RENDERED;
    render(ns, len, { keep: !stick });
    if (stick) scrollToBottom();
    if (msg.sender !== client.me?.id && msg.kind === 'text') {
      announcer.textContent = `${client.displayName(msg.sender)}: ${msg.text || 'sent a file'}`;
    }
    if (stick) opts.onSeen();
  }));
  offs.push(client.on('update', (msg, c) => {
    if (c === conv) refresh(msg);
  }));
  offs.push(client.on('history', (c) => {
    if (c !== conv || opening) return;
    // Older messages were added above: the window's indices moved, its seqs did not.
    if (!rendered.size) {
      showLatest();
      return;
    }
    const [start, end] = range();
    render(start, end);
    queueCheck();
  }));
  offs.push(client.on('receipt', ({ conversation }) => {
    if (conversation === conv.id) updateReceipts();
  }));
  offs.push(client.on('pending', (c) => {
    if (c !== conv) return;
    const stick = distanceFromBottom() < STICK_PX;
    renderPending();
    if (stick) scrollToBottom();
  }));
  offs.push(client.on('users', () => {
    ctx.usernames = usernameMap(client);
  }));

  const ro = new ResizeObserver(() => {
    if (atLiveEnd() && distanceFromBottom() < STICK_PX * 2) scrollToBottom();
  });
  ro.observe(scroller);

  return {
    el,
    scroller,
    /** Loads (if needed) and shows the newest messages, with a "New" divider above the first unread. */
    async open() {
      const me = client.me?.id;
      opening = true;
      if (conv.messages.length < PAGE && conv.hasMore) {
        loading = true;
        updateTop();
        try {
          await client.loadOlder(conv.id, PAGE);
        } catch (err) {
          toast(`Could not load messages: ${err.message}`, { kind: 'error' });
        } finally {
          loading = false;
        }
        if (destroyed) return;
      }
      const firstUnread = conv.messages.find((m) => m.seq > conv.readSeq && m.sender !== me && m.kind !== 'system');
      unreadFrom = conv.unread > 0 && firstUnread ? firstUnread.seq : 0;
      opening = false;
      rendered.clear();
      items.replaceChildren();
      showLatest();
      if (unreadFrom) rendered.get(unreadFrom)?.scrollIntoView({ block: 'center' });
      queueCheck();
    },
    jumpTo,
    showLatest,
    /** How many messages are in the DOM (for tests). */
    renderedCount: () => rendered.size,
    nearBottom: () => atLiveEnd() && distanceFromBottom() < STICK_PX,
    destroy() {
      destroyed = true;
      for (const off of offs) off();
      ro.disconnect();
      scroller.removeEventListener('scroll', onScroll);
    },
  };
}

/**
 * A simple list for the thread panel: the root and its replies (threads are short; no windowing).
 * @param {import('/sdk/messaging.js').MessagingClient} client
 * @param {import('/sdk/messaging.js').Conversation} conv
 * @param {number} rootSeq
 */
export function createThreadList(client, conv, rootSeq) {
  const list = h('div.thread-list', { role: 'log', 'aria-label': 'Thread', 'data-testid': 'thread-list', tabindex: '0' });
  const ctx = {
    client, conv, inThread: true, usernames: usernameMap(client),
    onReact: (msg, emoji, add) => client.react(conv.id, msg.seq, emoji, add).catch((e) => toast(`Could not react: ${e.message}`, { kind: 'error' })),
    onReactPicker: (msg, anchor) => openPicker(anchor, (emoji) => {
      const has = msg.reactions.some((r) => r.user === client.me?.id && r.emoji === emoji);
      ctx.onReact(msg, emoji, !has);
    }, { label: 'Add a reaction' }),
    onReply: () => {}, onThread: () => {}, onJump: () => {},
    onEdit: (msg) => {
      const node = list.querySelector(`.msg[data-seq="${msg.seq}"]`);
      if (node) editInline(node, msg, (text) => client.edit(conv.id, msg.seq, text), () => render());
    },
    onDelete: (msg) => {
      if (window.confirm('Delete this message?')) client.delete(conv.id, msg.seq).catch((e) => toast(`Could not delete: ${e.message}`, { kind: 'error' }));
    },
  };
  function render() {
    const root = conv.message(rootSeq);
    const replies = conv.threads.get(rootSeq) || [];
    list.replaceChildren();
    if (root) {
      list.appendChild(renderMessage(root, null, ctx));
      list.appendChild(h('div.thread-count', { text: `${replies.length} ${replies.length === 1 ? 'reply' : 'replies'}` }));
    }
    let prev = null;
    for (const r of replies) {
      list.appendChild(renderMessage(r, prev, ctx));
      prev = r;
    }
    for (const p of conv.pending.filter((x) => x.thread === rootSeq)) {
      list.appendChild(h('div.msg.mine.pending', { 'data-testid': 'pending-message' },
        h('div.msg-gutter'), h('div.msg-main', null, h('div.msg-text', { text: p.text }),
          h('div.msg-foot', null, h('span.receipt.receipt-pending', { text: p.state === 'failed' ? 'Not sent' : '🕓' })))));
    }
    list.scrollTop = list.scrollHeight;
  }
  const offs = [
    client.on('message', (msg, c) => { if (c === conv && (msg.thread === rootSeq || msg.seq === rootSeq)) render(); }),
    client.on('update', (msg, c) => { if (c === conv && (msg.thread === rootSeq || msg.seq === rootSeq)) render(); }),
    client.on('pending', (c) => { if (c === conv) render(); }),
  ];
  return {
    el: list,
    render,
    destroy() { for (const off of offs) off(); },
  };
}

// The agent console (/console, agents and admins): my status, offers that ring with the visitor's
// context, my contacts in progress as tabs (several chats at once, each its conversation with the
// workspace's timeline and composer), escalation to a voice or video call, transfer to another
// queue or a colleague, end and wrap-up (with the queue's wrap-up codes when it has some). The contract: /work/shared/contact/api.md, "Agent console" and
// "Messaging socket events". Offers and changes arrive on the messaging socket as
// client.on('contact', msg); the REST answers are applied too, so nothing waits for an event.
import { h, icon, toast, initials, avatarColor } from './ui.js';
import { api, session } from './session.js';
import { createTimeline } from './timeline.js';
import { createComposer } from './composer.js';
import { openDialog } from './dialogs.js';
import {
  pageFrame, notAllowed, AGENT_STATES, STATE_LABEL, MEDIA_LABEL, STATUS_LABEL, waitText, secondsSince, dateTime,
} from './contact-ui.js';

/** Wrap-up codes suggested when the queue has none of its own (any code may be typed then). */
const WRAP_UP_CODES = ['resolved', 'sale', 'follow_up', 'callback', 'not_interested', 'wrong_queue', 'spam'];
/** Statuses of a contact that is still the agent's to work on. */
const ACTIVE = new Set(['in_progress', 'wrap_up']);
const MEDIA_ICON = { chat: 'chat', voice: 'phone', video: 'cam' };

const contactURL = (id, action = '') => `/api/v1/contact/contacts/${encodeURIComponent(id)}${action ? `/${action}` : ''}`;
const visitorName = (c) => c?.visitor?.name || c?.visitor?.phone || 'Visitor';

/**
 * The ring of an offer, made with WebAudio (no audio file): two soft tones every two seconds while
 * at least one offer rings. Browsers start audio only after the person interacted with the page;
 * any click or key on the console unlocks it.
 */
function createRinger() {
  let ctx = null;
  let timer = 0;
  let muted = (() => { try { return localStorage.getItem('sb.console.mute') === '1'; } catch { return false; } })();
  const state = { ringing: false };
  function audio() {
    if (!ctx) {
      const AC = window.AudioContext || window.webkitAudioContext;
      if (!AC) return null;
      ctx = new AC();
    }
    return ctx;
  }
  function tone(at, freq, dur) {
    const c = audio();
    if (!c) return;
    const osc = c.createOscillator();
    const gain = c.createGain();
    osc.type = 'sine';
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(0.18, at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + dur);
    osc.connect(gain).connect(c.destination);
    osc.start(at);
    osc.stop(at + dur + 0.02);
  }
  function burst() {
    const c = audio();
    if (!c || muted) return;
    if (c.state === 'suspended') c.resume().catch(() => {});
    const t = c.currentTime + 0.02;
    tone(t, 880, 0.22);
    tone(t + 0.28, 660, 0.3);
  }
  return {
    state,
    /** Called on a user gesture: lets the page play sound from now on. */
    unlock() {
      const c = audio();
      if (c && c.state === 'suspended') c.resume().catch(() => {});
    },
    start() {
      if (state.ringing) return;
      state.ringing = true;
      burst();
      timer = setInterval(burst, 2000);
    },
    stop() {
      if (!state.ringing) return;
      state.ringing = false;
      clearInterval(timer);
      timer = 0;
    },
    get muted() { return muted; },
    setMuted(m) {
      muted = m;
      try { localStorage.setItem('sb.console.mute', m ? '1' : '0'); } catch { /* private mode */ }
    },
    close() {
      this.stop();
      ctx?.close().catch(() => {});
      ctx = null;
    },
  };
}

/** A link to a page the visitor came from: http(s) only, opened apart; anything else is shown as text. */
function urlText(url) {
  if (!url) return h('span.muted', { text: 'Unknown' });
  let ok = false;
  try { ok = ['http:', 'https:'].includes(new URL(url).protocol); } catch { ok = false; }
  return ok ? h('a.cc-url', { href: url, target: '_blank', rel: 'noopener noreferrer', text: url, title: url }) : h('span.cc-url', { text: url });
}

/**
 * The visitor's context: page, referrer, e-mail, earlier contacts.
 * @param {any} c ContactView
 * @param {string} testid
 * @param {any[]|undefined} previous the earlier contacts; undefined while they load
 */
function contextList(c, testid, previous) {
  const prev = previous || [];
  return h('dl.cc-context', { 'data-testid': testid },
    c.visitor?.email ? [h('dt', { text: 'E-mail' }), h('dd', { text: c.visitor.email })] : null,
    // A telephone caller's number (or the one a visitor asked to be called back on).
    c.visitor?.phone ? [h('dt', { text: 'Phone' }), h('dd', { 'data-testid': 'context-phone' }, h('a', { href: `tel:${c.visitor.phone}`, text: c.visitor.phone }))] : null,
    c.visitor?.phone && !c.page
      ? [h('dt', { text: 'Came from' }), h('dd', { 'data-testid': 'context-referrer', text: 'A telephone call' })]
      : [h('dt', { text: 'Page' }), h('dd', { 'data-testid': 'context-page' }, urlText(c.page)),
        h('dt', { text: 'Came from' }), h('dd', { 'data-testid': 'context-referrer' }, c.referrer ? urlText(c.referrer) : h('span.muted', { text: 'Direct' }))],
    h('dt', { text: 'Earlier contacts' }),
    h('dd', null, !previous ? h('span.muted', { 'data-testid': 'context-previous-loading', text: 'Loading…' }) : prev.length
      ? h('ul.cc-previous', { 'data-testid': 'context-previous' }, prev.map((p) => h('li', { 'data-contact': p.id },
        h('time', { datetime: p.arrivedAt, text: dateTime(p.arrivedAt) }),
        h('span', { text: [p.agentName ? `with ${p.agentName}` : '', STATUS_LABEL[p.status] || p.status, p.wrapUpCode].filter(Boolean).join(' · ') }))))
      : h('span.muted', { 'data-testid': 'context-previous-none', text: 'First contact' })));
}

/**
 * @param {HTMLElement} root
 * @param {{client: any, calls: any, navigate: (path: string) => void}} app
 */
export function renderConsole(root, app) {
  const { client } = app;
  const role = client.me?.role || session.user?.role || '';
  if (role !== 'agent' && role !== 'admin') {
    notAllowed(root, { title: 'Agent console', text: 'The agent console is for agents. Ask an admin to give you the agent role.', navigate: app.navigate });
    return null;
  }
  document.title = 'Agent console · Switchboard';
  const ringer = createRinger();
  const offs = [];
  let destroyed = false;
  /** @type {any} AgentView */
  let agent = null;
  /** @type {Map<string, {contact: any, timer: number, el: HTMLElement}>} */
  const offers = new Map();
  /** @type {Map<string, {contact: any, view: any, unread: number, ended: boolean}>} my contacts, in arrival order */
  const contacts = new Map();
  let selected = '';
  /** @type {Map<string, any[]>} the visitor's earlier contacts, by contact (the events do not carry them) */
  const previousOf = new Map();
  const loadingPrevious = new Set();

  /** The earlier contacts of c's visitor, or undefined while they load (GET /contacts/{id} has them). */
  function previousFor(c, redraw) {
    if (Array.isArray(c.previous)) previousOf.set(c.id, c.previous);
    if (previousOf.has(c.id)) return previousOf.get(c.id);
    if (!loadingPrevious.has(c.id)) {
      loadingPrevious.add(c.id);
      api(contactURL(c.id)).then((full) => {
        previousOf.set(c.id, full.previous || []);
      }).catch(() => {
        previousOf.set(c.id, []);
      }).finally(() => {
        loadingPrevious.delete(c.id);
        if (!destroyed) redraw();
      });
    }
    return undefined;
  }

  // ------------------------------------------------------------------ frame and status
  const stateSelect = h('select.select.cc-state-select', { id: 'cc-state', 'data-testid': 'agent-state', 'aria-describedby': 'cc-state-hint' },
    AGENT_STATES.map((s) => h('option', { value: s.value, text: s.label })),
    h('option', { value: 'wrap_up', text: 'Wrap-up', disabled: true, hidden: true }));
  const stateDot = h('span.cc-state-dot', { 'aria-hidden': 'true' });
  const stateHint = h('span.visually-hidden', { id: 'cc-state-hint' });
  const muteBtn = h('button.icon-btn.icon-btn-sm', { type: 'button', 'data-testid': 'ring-mute' });
  const renderMute = () => {
    muteBtn.replaceChildren(icon(ringer.muted ? 'bellOff' : 'bell', { size: 20 }));
    muteBtn.setAttribute('aria-pressed', String(ringer.muted));
    muteBtn.setAttribute('aria-label', ringer.muted ? 'Ring sound off: turn it on' : 'Ring sound on: turn it off');
    muteBtn.title = ringer.muted ? 'Ring sound off' : 'Ring sound on';
  };
  renderMute();
  muteBtn.addEventListener('click', () => { ringer.setMuted(!ringer.muted); renderMute(); });
  const stateBox = h('div.cc-state-box', null,
    h('label.cc-state-label', { for: 'cc-state', text: 'My status' }),
    h('span.cc-state-wrap', null, stateDot, stateSelect), stateHint, muteBtn);
  const frame = pageFrame({ title: 'Agent console', page: 'console', role, navigate: app.navigate, controls: [stateBox] });

  const queuesLine = h('p.cc-queues.muted.small', { 'data-testid': 'agent-queues' });
  const offersTitle = h('h2.cc-side-title', { id: 'cc-offers-title', text: 'Offers' });
  // New offers are announced (aria-live); the cards are in the list that follows.
  const announcer = h('div.visually-hidden', { role: 'status', 'aria-live': 'assertive', 'data-testid': 'offer-announcer' });
  const offerList = h('section.cc-offers', { 'data-testid': 'offers', 'aria-labelledby': 'cc-offers-title' });
  const offersEmpty = h('p.muted.small.cc-empty-line', { 'data-testid': 'offers-empty', text: 'No offers ringing.' });
  const tabsTitle = h('h2.cc-side-title', { id: 'cc-contacts-title', text: 'My contacts' });
  const tabs = h('div.cc-tabs', { role: 'tablist', 'aria-labelledby': 'cc-contacts-title', 'aria-orientation': 'vertical', 'data-testid': 'contact-tabs' });
  const tabsEmpty = h('p.muted.small.cc-empty-line', { text: 'Contacts you accept show here. You can handle several chats at once.' });
  const side = h('aside.cc-side', { 'aria-label': 'Offers and contacts' },
    queuesLine, offersTitle, announcer, offerList, offersEmpty, tabsTitle, tabs, tabsEmpty);
  const work = h('section.cc-work', { 'aria-label': 'Contact' });
  frame.main.append(side, work);
  frame.main.classList.add('cc-console-main');
  root.appendChild(frame.el);
  frame.el.addEventListener('pointerdown', () => ringer.unlock(), { capture: true });
  frame.el.addEventListener('keydown', () => ringer.unlock(), { capture: true });

  function renderState() {
    const st = agent?.state || 'offline';
    const wrap = stateSelect.querySelector('option[value="wrap_up"]');
    wrap.hidden = st !== 'wrap_up';
    if (!frame.el.dataset.stateSaving) stateSelect.value = st;
    stateDot.className = `cc-state-dot cc-state-${st}`;
    stateSelect.dataset.state = st;
    stateHint.textContent = AGENT_STATES.find((s) => s.value === st)?.hint || '';
    const qs = agent?.queues || [];
    queuesLine.textContent = qs.length ? `Your queues: ${qs.map((q) => q.name || q.id).join(', ')}` : 'You are not in a queue yet. An admin adds agents to queues.';
    frame.el.dataset.agentState = st;
  }

  // Each change is sent; only the answer to the latest one is shown. (The select stays enabled:
  // disabling it would take the keyboard's focus away.)
  let stateSeq = 0;
  stateSelect.addEventListener('change', async () => {
    const want = stateSelect.value;
    const seq = ++stateSeq;
    ringer.unlock();
    frame.el.dataset.stateSaving = 'true';
    try {
      const view = await api('/api/v1/contact/agent/state', { method: 'PUT', body: { state: want } });
      if (seq !== stateSeq || destroyed) return;
      applyAgent(view);
      toast(`You are ${(STATE_LABEL[want] || want).toLowerCase()}.`);
    } catch (err) {
      if (seq !== stateSeq || destroyed) return;
      toast(`Could not change your status: ${err.message}`, { kind: 'error' });
      renderState();
    } finally {
      if (seq === stateSeq) delete frame.el.dataset.stateSaving;
    }
  });

  // ------------------------------------------------------------------ offers
  function renderOffersEmpty() {
    offersEmpty.hidden = offers.size > 0;
    // The tab's title says it rings, for an agent working in another tab.
    document.title = offers.size ? `(${offers.size}) Ringing · Agent console` : 'Agent console · Switchboard';
    frame.el.dataset.ringing = String(offers.size > 0);
    if (offers.size) ringer.start();
    else ringer.stop();
  }

  function addOffer(c) {
    if (!c || !c.id || contacts.has(c.id)) return;
    const until = new Date(c.offerUntil).getTime();
    if (Number.isFinite(until) && until < Date.now() - 1000) return;
    const existing = offers.get(c.id);
    if (existing) {
      existing.contact = c;
      return;
    }
    const name = visitorName(c);
    const titleId = `offer-${c.id}`;
    const ctxHolder = h('div.cc-offer-context');
    const drawContext = () => ctxHolder.replaceChildren(contextList(c, 'offer-context', previousFor(c, drawContext)));
    drawContext();
    const countdown = h('span.cc-countdown', { 'data-testid': 'offer-countdown' });
    const bar = h('span.cc-countdown-bar');
    const accept = h('button.btn.btn-primary', { type: 'button', 'data-testid': 'offer-accept', 'aria-label': `Accept ${MEDIA_LABEL[c.media] || ''} contact from ${name}`.replace('  ', ' ') },
      icon(MEDIA_ICON[c.media] || 'chat', { size: 18 }), h('span', { text: 'Accept' }));
    const decline = h('button.btn.btn-outline', { type: 'button', 'data-testid': 'offer-decline', 'aria-label': `Decline the contact from ${name}`, text: 'Decline' });
    const el = h('article.cc-offer', { 'data-testid': 'offer', 'data-contact': c.id, 'aria-labelledby': titleId },
      h('div.cc-offer-head', null,
        h('span.avatar.avatar-md.cc-ring-avatar', { style: { background: avatarColor(c.visitor?.id || c.id) }, text: initials(name), 'aria-hidden': 'true' }),
        h('div.cc-offer-who', null,
          h('h3', { id: titleId, 'data-testid': 'offer-name', text: name }),
          h('p.small.muted', null,
            h('span', { 'data-testid': 'offer-queue', text: c.queueName || c.queue }),
            ' · ',
            h('span.cc-media', { 'data-testid': 'offer-media', 'data-media': c.media }, icon(MEDIA_ICON[c.media] || 'chat', { size: 14 }), h('span', { text: MEDIA_LABEL[c.media] || c.media }))))),
      ctxHolder,
      h('div.cc-countdown-wrap', null, h('span.cc-countdown-track', { 'aria-hidden': 'true' }, bar), countdown),
      h('div.cc-offer-actions', null, decline, accept));
    const entry = { contact: c, timer: 0, el, addedAt: Date.now() };
    const total = Math.max(1, (until - Date.now()) / 1000);
    const tick = () => {
      const raw = (new Date(entry.contact.offerUntil).getTime() - Date.now()) / 1000;
      const left = Math.max(0, raw);
      countdown.textContent = Number.isFinite(raw) ? `Rings for ${Math.ceil(left)} s` : 'Ringing';
      bar.style.width = Number.isFinite(raw) ? `${Math.min(100, (left / total) * 100)}%` : '100%';
      // The server withdraws an offer that timed out; without its word, the card goes a moment later.
      if (Number.isFinite(raw) && raw <= -3) removeOffer(c.id);
    };
    tick();
    entry.timer = setInterval(tick, 250);
    accept.addEventListener('click', () => acceptOffer(c.id, accept, decline));
    decline.addEventListener('click', () => declineOffer(c.id, accept, decline));
    offers.set(c.id, entry);
    offerList.appendChild(el);
    announcer.textContent = `New ${(MEDIA_LABEL[c.media] || 'contact').toLowerCase()} from ${name} in ${c.queueName || c.queue}. Accept or decline in the offers list.`;
    renderOffersEmpty();
    // Keyboard users reach the newest offer at once when they are not typing.
    if (!document.activeElement || document.activeElement === document.body || document.activeElement === frame.main) accept.focus();
  }

  function removeOffer(id) {
    const entry = offers.get(id);
    if (!entry) return;
    clearInterval(entry.timer);
    const hadFocus = entry.el.contains(document.activeElement);
    entry.el.remove();
    offers.delete(id);
    renderOffersEmpty();
    if (hadFocus) (offerList.querySelector('[data-testid="offer-accept"]') || tabs.querySelector('[aria-selected="true"]') || stateSelect).focus();
  }

  const accepting = new Set();
  async function acceptOffer(id, ...buttons) {
    for (const b of buttons) b.disabled = true;
    accepting.add(id);
    try {
      const c = await api(contactURL(id, 'accept'), { method: 'POST' });
      removeOffer(id);
      // A visitor who asked to talk or see each other gets the call at once: visitors cannot start
      // calls, the agent does, in the contact's conversation.
      addContact(c, { select: true, call: c.media === 'voice' || c.media === 'video' ? c.media : '' });
    } catch (err) {
      removeOffer(id);
      toast(err.status === 409 ? 'That contact is no longer waiting: someone else answered, or the visitor left.' : `Could not accept: ${err.message}`, { kind: err.status === 409 ? 'info' : 'error' });
    } finally {
      accepting.delete(id);
    }
  }

  async function declineOffer(id, ...buttons) {
    for (const b of buttons) b.disabled = true;
    try {
      await api(contactURL(id, 'decline'), { method: 'POST' });
    } catch (err) {
      if (err.status !== 409 && err.status !== 404) toast(`Could not decline: ${err.message}`, { kind: 'error' });
    }
    removeOffer(id);
  }

  /**
   * Names the visitor for the message list: visitors are not in the directory (GET /api/v1/users),
   * so the client would call them "Someone". They go in the client's cache marked disabled, which
   * keeps them out of every people picker.
   */
  function knowVisitor(c) {
    const v = c?.visitor;
    if (!v?.id || client.users.has(v.id)) return;
    client.users.set(v.id, { id: v.id, username: 'visitor', displayName: v.name || 'Visitor', role: 'visitor', disabled: true, visitor: true });
    client.emit('users', client.users);
  }

  // ------------------------------------------------------------------ my contacts
  function addContact(c, { select = false, call = '' } = {}) {
    knowVisitor(c);
    let entry = contacts.get(c.id);
    if (!entry) {
      entry = { contact: c, view: null, unread: 0, ended: false, addedAt: Date.now(), callOnOpen: call };
      contacts.set(c.id, entry);
    } else {
      entry.contact = c;
      // (The socket's news of the answer can come before the answer to Accept.)
      if (call && !entry.called) entry.callOnOpen = call;
    }
    if ((c.status === 'wrap_up' || c.status === 'ended') && !entry.ended) {
      entry.ended = true;
      entry.endedAt = Date.now();
    }
    entry.view?.update();
    renderTabs();
    if (select || !selected) selectContact(c.id, { focus: select });
    entry.view?.callIfAsked();
  }

  function removeContact(id) {
    const entry = contacts.get(id);
    if (!entry) return;
    entry.view?.destroy();
    contacts.delete(id);
    if (selected === id) {
      selected = '';
      const next = [...contacts.keys()][0];
      if (next) selectContact(next, { focus: false });
      else showEmpty();
    }
    renderTabs();
  }

  function renderTabs() {
    const focusedTab = document.activeElement?.closest?.('[role="tab"]')?.dataset.contact;
    tabs.replaceChildren();
    for (const [id, entry] of contacts) {
      const c = entry.contact;
      const name = visitorName(c);
      const sel = id === selected;
      const status = entry.ended ? 'Wrap-up' : MEDIA_LABEL[c.media] || 'Chat';
      const tab = h(`button.cc-tab${sel ? '.selected' : ''}`, {
        type: 'button', role: 'tab', id: `cc-tab-${id}`, 'aria-selected': String(sel), 'aria-controls': 'cc-panel', tabindex: sel ? '0' : '-1',
        'data-testid': 'contact-tab', 'data-contact': id, 'data-status': c.status,
        'aria-label': `${name}, ${c.queueName || c.queue}, ${status}${entry.unread ? `, ${entry.unread} new` : ''}`,
      },
      h('span.avatar.avatar-sm', { style: { background: avatarColor(c.visitor?.id || id) }, text: initials(name), 'aria-hidden': 'true' }),
      h('span.cc-tab-text', null,
        h('span.cc-tab-name', { text: name }),
        h('span.cc-tab-sub', null, icon(entry.ended ? 'edit' : MEDIA_ICON[c.media] || 'chat', { size: 13 }), h('span', { text: `${c.queueName || c.queue} · ${status}` }))),
      entry.unread ? h('span.conv-unread', { 'data-testid': 'contact-unread', text: entry.unread > 99 ? '99+' : String(entry.unread), 'aria-hidden': 'true' }) : null);
      tab.addEventListener('click', () => selectContact(id, { focus: true }));
      tabs.appendChild(tab);
    }
    tabsEmpty.hidden = contacts.size > 0;
    tabsTitle.textContent = contacts.size ? `My contacts (${contacts.size})` : 'My contacts';
    if (focusedTab) tabs.querySelector(`[data-contact="${CSS.escape(focusedTab)}"]`)?.focus({ preventScroll: true });
  }

  // Arrow keys move between tabs (the tab pattern); Home and End go to the ends.
  tabs.addEventListener('keydown', (ev) => {
    const list = [...tabs.querySelectorAll('[role="tab"]')];
    const i = list.indexOf(document.activeElement);
    if (i < 0) return;
    let j = -1;
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowRight') j = (i + 1) % list.length;
    else if (ev.key === 'ArrowUp' || ev.key === 'ArrowLeft') j = (i - 1 + list.length) % list.length;
    else if (ev.key === 'Home') j = 0;
    else if (ev.key === 'End') j = list.length - 1;
    if (j < 0) return;
    ev.preventDefault();
    selectContact(list[j].dataset.contact, { focus: false });
    tabs.querySelector(`[data-contact="${CSS.escape(list[j].dataset.contact)}"]`)?.focus();
  });

  function showEmpty() {
    work.replaceChildren(h('div.ws-empty.cc-empty', { 'data-testid': 'console-empty' },
      h('div.ws-empty-art', { 'aria-hidden': 'true' }, icon('headset', { size: 48 })),
      h('h2', { text: agent?.state === 'available' ? 'Waiting for visitors' : 'You are not taking contacts' }),
      h('p.muted', { text: agent?.state === 'available' ? 'Offers ring on the left. Accept one to start talking.' : 'Set your status to Available to get offers.' })));
  }

  function selectContact(id, { focus = false } = {}) {
    const entry = contacts.get(id);
    if (!entry) return;
    if (selected && selected !== id) contacts.get(selected)?.view?.hide();
    selected = id;
    entry.unread = 0;
    if (!entry.view) entry.view = contactView(entry);
    work.replaceChildren(entry.view.el);
    entry.view.shown({ focus });
    renderTabs();
  }

  // ------------------------------------------------------------------ one contact
  function contactView(entry) {
    const id = entry.contact.id;
    const c0 = entry.contact;
    const titleEl = h('h2.conv-name', { 'data-testid': 'contact-name' });
    const sub = h('p.conv-sub', { 'data-testid': 'contact-sub' });
    const btn = (name, label, testid, onclick, cls = '') => h(`button.btn.btn-sm${cls}`, { type: 'button', 'data-testid': testid, onclick }, icon(name, { size: 18 }), h('span', { text: label }));
    const voiceBtn = btn('phone', 'Voice', 'contact-voice', () => escalate('voice'), '.btn-outline');
    const videoBtn = btn('cam', 'Video', 'contact-video', () => escalate('video'), '.btn-outline');
    const transferBtn = btn('swap', 'Transfer', 'contact-transfer', () => transfer(), '.btn-outline');
    const endBtn = btn('callEnd', 'End', 'contact-end', () => end(), '.cc-end-btn');
    const actions = h('div.cc-actions', { role: 'group', 'aria-label': 'Contact actions' }, voiceBtn, videoBtn, transferBtn, endBtn);
    const header = h('header.conv-head.cc-contact-head', null,
      h('span.avatar.avatar-md', { style: { background: avatarColor(c0.visitor?.id || id) }, text: initials(visitorName(c0)), 'aria-hidden': 'true' }),
      h('div.conv-head-text', null, titleEl, sub), actions);
    const convBox = h('div.cc-conv', { 'data-testid': 'contact-conversation' },
      h('div.ws-empty', null, h('span.spinner', { 'aria-hidden': 'true' }), h('p.muted', { role: 'status', text: 'Opening the conversation…' })));
    const ctxBox = h('div.cc-context-box');
    const wrapBox = h('div.cc-wrapup-box');
    // On a phone the visitor's details start folded, leaving the room to the conversation.
    // Notes while talking: a draft kept in this tab (sessionStorage), filed with the wrap-up.
    const draftKey = `sb.console.notes.${id}`;
    const readDraft = () => { try { return sessionStorage.getItem(draftKey) || ''; } catch { return ''; } };
    const draft = h('textarea.input.cc-notes', { id: `cc-draft-${id}`, rows: '5', maxlength: '4000', 'data-testid': 'contact-notes', placeholder: 'What the visitor needs, what you promised…' });
    draft.value = readDraft();
    draft.addEventListener('input', () => {
      try { sessionStorage.setItem(draftKey, draft.value); } catch { /* private mode: the page keeps it */ }
      const wrapNotes = wrapBox.querySelector('[data-testid="wrapup-notes"]');
      if (wrapNotes && !wrapNotes.dataset.edited) wrapNotes.value = draft.value;
    });
    const draftBox = h('div.cc-draft', null,
      h('label.field-label', { for: draft.id, text: 'Notes' }), draft,
      h('p.muted.small', { text: 'They go with your wrap-up.' }));
    const details = h('details.cc-details', { open: !window.matchMedia('(max-width: 860px)').matches }, h('summary', { text: 'Visitor' }), ctxBox);
    const el = h('section.cc-contact', { id: 'cc-panel', role: 'tabpanel', 'aria-labelledby': `cc-tab-${id}`, 'data-testid': 'contact-view', 'data-contact': id },
      header, h('div.cc-contact-body', null, h('div.cc-contact-main', null, convBox, wrapBox), h('aside.cc-contact-aside', { 'aria-label': 'About the visitor' }, details, draftBox)));

    let timeline = null;
    let composer = null;
    let conv = null;
    let elapsed = 0;
    const viewOffs = [];

    /** The line under the name, with the time since the answer (redrawn every second). */
    function renderSub() {
      const c = entry.contact;
      const since = c.answeredAt ? ` · ${waitText(secondsSince(c.answeredAt))}` : '';
      sub.textContent = `${c.queueName || c.queue} · ${MEDIA_LABEL[c.media] || c.media} · ${entry.ended ? (c.status === 'ended' ? 'Ended' : 'Wrap-up') : (STATUS_LABEL[c.status] || c.status)}${entry.ended ? '' : since}`;
    }

    function update() {
      const c = entry.contact;
      titleEl.textContent = visitorName(c);
      renderSub();
      ctxBox.replaceChildren(contextList(c, 'contact-context', previousFor(c, () => entry.view?.update())));
      for (const b of [voiceBtn, videoBtn, transferBtn, endBtn]) b.disabled = entry.ended;
      el.dataset.status = c.status;
      if (entry.ended) showWrapUp();
      if (composer) composer.el.hidden = entry.ended;
    }

    function attach() {
      if (conv) return true;
      conv = client.conversations.get(entry.contact.conversation);
      if (!conv) return false;
      composer = createComposer(client, conv, { onSent: () => timeline.showLatest(), placeholder: `Message ${visitorName(entry.contact)}`, testid: 'composer' });
      timeline = createTimeline(client, conv, {
        onReply: (msg) => composer.setReply(msg),
        onThread: () => toast('Threads of this conversation open in Messages.'),
        onSeen: () => markSeen(),
        focusComposer: () => composer.focus(),
      });
      const typing = h('div.typing-indicator', { 'data-testid': 'typing-indicator', 'aria-live': 'polite' });
      viewOffs.push(client.on('typing', ({ conversation }) => {
        if (conversation !== conv.id) return;
        const who = conv.typingUsers().map((u) => client.displayName(u));
        typing.textContent = who.length ? `${who.join(', ')} ${who.length === 1 ? 'is' : 'are'} typing…` : '';
        typing.classList.toggle('on', who.length > 0);
      }));
      convBox.replaceChildren(timeline.el, typing, composer.el);
      composer.el.hidden = entry.ended;
      timeline.open().then(() => markSeen());
      callIfAsked();
      return true;
    }

    function markSeen() {
      if (!conv || selected !== id || document.visibilityState !== 'visible' || !timeline?.nearBottom()) return;
      client.markRead(conv.id).catch(() => {});
    }

    // The conversation reaches the client when the server adds the agent to it.
    if (!attach()) {
      viewOffs.push(client.on('conversation', () => { if (!conv && attach() && selected === id) composer.focus(); }));
      viewOffs.push(client.on('ready', () => { if (!conv) attach(); }));
    }

    let wrapShown = false;
    function showWrapUp() {
      if (wrapShown) return;
      wrapShown = true;
      const listId = `cc-codes-${id}`;
      // The queue's own codes are the choices when it has some; otherwise any code may be typed.
      const queueCodes = (agent?.queues || []).find((q) => q.id === entry.contact.queue)?.wrapUpCodes || [];
      const current = entry.contact.wrapUpCode || '';
      const code = queueCodes.length
        ? h('select.select.input', { id: `cc-code-${id}`, required: true, 'aria-describedby': `cc-wrap-err-${id}`, 'data-testid': 'wrapup-code', 'data-choices': 'queue' },
          h('option', { value: '', text: 'Choose…' }),
          [...queueCodes, ...(current && !queueCodes.includes(current) ? [current] : [])].map((x) => h('option', { value: x, text: x, 'prop:selected': x === current })))
        : h('input.input', { type: 'text', id: `cc-code-${id}`, list: listId, maxlength: '64', required: true, 'aria-describedby': `cc-wrap-err-${id}`, 'data-testid': 'wrapup-code', autocomplete: 'off', value: current });
      const notes = h('textarea.input.cc-notes', { id: `cc-notes-${id}`, rows: '2', maxlength: '4000', 'data-testid': 'wrapup-notes' });
      notes.value = entry.contact.notes || draft.value;
      notes.addEventListener('input', () => { notes.dataset.edited = 'true'; });
      draftBox.hidden = true;
      const save = h('button.btn.btn-primary', { type: 'submit', 'data-testid': 'wrapup-save', text: 'Save wrap-up' });
      const error = h('p.form-error', { id: `cc-wrap-err-${id}`, role: 'alert', hidden: true, 'data-testid': 'wrapup-error' });
      // Our own message for a missing code (novalidate), said by the alert below the fields.
      const form = h('form.cc-wrapup', { 'data-testid': 'wrapup-form', 'aria-labelledby': `cc-wrap-title-${id}`, novalidate: true },
        h('div.cc-wrapup-head', null,
          h('h3', { id: `cc-wrap-title-${id}`, text: 'Wrap-up' }),
          h('p.muted.small', { text: 'The conversation has ended. The code goes into the visitor\'s history.' })),
        h('div.cc-wrapup-fields', null,
          h('div.field', null, h('label.field-label', { for: code.id, text: 'Wrap-up code' }), code,
            queueCodes.length ? null : h('datalist', { id: listId }, WRAP_UP_CODES.map((x) => h('option', { value: x })))),
          h('div.field.cc-notes-field', null, h('label.field-label', { for: notes.id, text: 'Notes' }), notes),
          h('div.cc-wrapup-actions', null, save)),
        error);
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        if (!code.value.trim()) {
          error.textContent = queueCodes.length ? 'Choose a wrap-up code.' : 'Give a wrap-up code.';
          error.hidden = false;
          code.focus();
          return;
        }
        save.disabled = true;
        error.hidden = true;
        try {
          await api(contactURL(id, 'wrapup'), { method: 'POST', body: { code: code.value.trim(), notes: notes.value.trim() } });
          toast(`Wrap-up saved for ${visitorName(entry.contact)}.`);
          try { sessionStorage.removeItem(draftKey); } catch { /* nothing kept */ }
          removeContact(id);
        } catch (err) {
          error.textContent = `Could not save the wrap-up: ${err.message}`;
          error.hidden = false;
          save.disabled = false;
        }
      });
      wrapBox.replaceChildren(form);
      if (selected === id) code.focus();
    }

    async function escalate(media) {
      if (!conv) {
        toast('The conversation is not open yet.');
        return;
      }
      if (app.calls?.busy()) {
        toast('You are already in a call.');
        return;
      }
      const b = media === 'video' ? videoBtn : voiceBtn;
      b.disabled = true;
      try {
        const c = await api(contactURL(id, 'media'), { method: 'POST', body: { media } });
        entry.contact = c;
        update();
        renderTabs();
        await startCall(media);
      } catch (err) {
        toast(`Could not start the ${media} call: ${err.message}`, { kind: 'error' });
      } finally {
        b.disabled = entry.ended;
      }
    }

    /** Starts the call a voice or video contact asked for, once its conversation is here. */
    function callIfAsked() {
      if (!entry.callOnOpen || !conv || entry.ended) return;
      const media = entry.callOnOpen;
      entry.callOnOpen = '';
      entry.called = true;
      setTimeout(() => startCall(media).catch((err) => toast(`Could not start the call: ${err.message}`, { kind: 'error' })), 0);
    }

    /** A call with the visitor in the contact's conversation, on the page's call screens (calls.js). */
    async function startCall(media) {
      if (!conv || !app.calls) return;
      if (app.calls.busy()) {
        toast('You are already in a call.');
        return;
      }
      await app.calls.start({ conversation: conv.id }, media === 'video');
    }

    /**
     * Transfer: to another queue (the visitor waits there, first in line) or to a colleague (they
     * take the contact now, if they have a free slot). The choices and the colleagues' states come
     * from the server when the dialog opens.
     */
    async function transfer() {
      transferBtn.disabled = true;
      let data;
      try {
        data = await api('/api/v1/contact/agent/colleagues');
      } catch (err) {
        toast(`Could not list where to transfer: ${err.message}`, { kind: 'error' });
        return;
      } finally {
        transferBtn.disabled = entry.ended;
      }
      const queues = (data.queues || []).filter((q) => q.id !== entry.contact.queue);
      const STATE_RANK = { available: 0, wrap_up: 1, busy: 2, paused: 3, offline: 4 };
      const colleagues = (data.agents || []).slice().sort((a, b) => (STATE_RANK[a.state] ?? 5) - (STATE_RANK[b.state] ?? 5) || a.name.localeCompare(b.name));
      let choice = null;
      const go = h('button.btn.btn-primary', { type: 'button', 'data-testid': 'transfer-confirm', text: 'Transfer', disabled: true });
      const hint = h('p.small', { role: 'status', 'data-testid': 'transfer-hint', text: 'Choose a queue or a colleague.' });
      const error = h('p.form-error', { role: 'alert', 'data-testid': 'transfer-error', hidden: true });
      const pick = (c) => {
        choice = c;
        go.disabled = false;
        error.hidden = true;
        hint.textContent = c.queue
          ? `${visitorName(entry.contact)} goes back in line in ${c.name}, first, with the conversation so far.`
          : `${c.name} joins the conversation now and takes it over; you leave it.`;
      };
      const radio = (value, testid, onpick, label, extra) => {
        const r = h('input', { type: 'radio', name: `cc-transfer-${id}`, value, 'data-testid': testid });
        r.addEventListener('change', onpick);
        return h('li', null, h('label.pick-item', null, r, h('span.person-name', { text: label }), extra || null));
      };
      const queueList = h('ul.pick-list.cc-transfer-list', { 'aria-labelledby': `cc-tq-${id}` },
        queues.map((q) => radio(q.id, 'transfer-queue', () => pick({ queue: q.id, name: q.name || q.id }), q.name || q.id)));
      if (!queues.length) queueList.appendChild(h('li.muted.pick-empty', { text: 'There is no other queue.' }));
      const agentList = h('ul.pick-list.cc-transfer-list', { 'aria-labelledby': `cc-ta-${id}` },
        colleagues.map((a) => radio(a.user, 'transfer-agent', () => pick({ agent: a.user, name: a.name || a.user }), a.name || a.user,
          h(`span.cc-state.cc-state-${a.state}`, { 'data-state': a.state, text: STATE_LABEL[a.state] || a.state }))));
      if (!colleagues.length) agentList.appendChild(h('li.muted.pick-empty', { text: 'No colleague answers a queue yet.' }));
      const dlg = openDialog({
        title: `Transfer ${visitorName(entry.contact)}`, testid: 'transfer-dialog',
        body: [
          h('div', { role: 'radiogroup', 'aria-label': 'Transfer to' },
            h('h3.section-title', { id: `cc-tq-${id}`, text: 'To a queue' }), queueList,
            h('h3.section-title', { id: `cc-ta-${id}`, text: 'To a colleague' }), agentList),
          hint, error],
        foot: [go],
      });
      dlg.el.classList.add('cc-transfer-dialog');
      dlg.el.querySelector('input[type="radio"]')?.focus();
      go.addEventListener('click', async () => {
        if (!choice) return;
        const c = choice;
        go.disabled = true;
        try {
          await api(contactURL(id, 'transfer'), { method: 'POST', body: c.queue ? { queue: c.queue } : { agent: c.agent } });
          dlg.close();
          toast(`${visitorName(entry.contact)} was transferred to ${c.name}.`);
          removeContact(id);
        } catch (err) {
          go.disabled = false;
          // 409: the colleague is offline or has no free slot; the server says which.
          error.textContent = `Could not transfer: ${err.message}${/[.!?]$/.test(err.message) ? '' : '.'}`;
          error.hidden = false;
        }
      });
    }

    async function end() {
      endBtn.disabled = true;
      entry.ending = true; // the socket's news of the end may come before the answer
      try {
        const c = await api(contactURL(id, 'end'), { method: 'POST' });
        entry.contact = c;
        if (!entry.ended) entry.endedAt = Date.now();
        entry.ended = true;
        update();
        renderTabs();
      } catch (err) {
        entry.ending = false;
        endBtn.disabled = false;
        toast(`Could not end: ${err.message}`, { kind: 'error' });
      }
    }

    // The handling time in the subtitle, once a second while shown.
    const tick = () => { if (selected === id && !entry.ended) renderSub(); };
    update();
    return {
      el,
      update,
      callIfAsked,
      shown({ focus }) {
        clearInterval(elapsed);
        elapsed = setInterval(tick, 1000);
        if (timeline) timeline.showLatest();
        markSeen();
        if (focus) {
          if (entry.ended) wrapBox.querySelector('[data-testid="wrapup-code"]')?.focus();
          else composer?.focus();
        }
      },
      hide() { clearInterval(elapsed); },
      destroy() {
        clearInterval(elapsed);
        for (const off of viewOffs) off();
        timeline?.destroy();
        el.remove();
      },
    };
  }

  // ------------------------------------------------------------------ server state
  /** Applies an AgentView: status, queues, contacts and offers. */
  function applyAgent(view) {
    if (!view) return;
    agent = view;
    renderState();
    const mine = new Set();
    for (const c of view.contacts || []) {
      mine.add(c.id);
      if (ACTIVE.has(c.status)) addContact(c);
    }
    // Contacts I ended and have not wrapped up: the server keeps them (a reload, another tab or
    // device shows them too).
    const waiting = new Set();
    for (const c of view.wrapUps || []) {
      waiting.add(c.id);
      if (!c.wrapUpCode) addContact(c);
    }
    // Gone from the server's lists: transferred, or wrapped up elsewhere. One added or ended in the
    // last seconds may be newer than this view (the answer to Accept or End can overtake an event
    // sent before it).
    const recent = (entry) => Date.now() - (entry.ended ? entry.endedAt || entry.addedAt : entry.addedAt) < 5000;
    for (const [id, entry] of contacts) {
      if (!(entry.ended ? waiting : mine).has(id) && !recent(entry)) removeContact(id);
    }
    const offered = new Set((view.offers || []).map((c) => c.id));
    for (const c of view.offers || []) addOffer(c);
    for (const [id, entry] of [...offers]) if (!offered.has(id) && !recent(entry)) removeOffer(id);
    if (!contacts.size) showEmpty();
  }

  async function load() {
    try {
      applyAgent(await api('/api/v1/contact/agent'));
    } catch (err) {
      if (destroyed) return;
      work.replaceChildren(h('div.ws-empty', { 'data-testid': 'console-error' },
        h('h2', { text: 'Could not load the console' }), h('p.muted', { text: err.message }),
        h('button.btn.btn-primary', { type: 'button', text: 'Try again', onclick: () => load() })));
    }
  }

  const withdrawnText = {
    timeout: 'was not answered in time', answered: 'was answered by a colleague', visitor_left: 'ended: the visitor left',
    agent_away: 'was withdrawn: you are away', declined: 'was declined',
  };
  offs.push(client.on('contact', (msg) => {
    if (destroyed || !msg) return;
    const c = msg.contact;
    switch (msg.event) {
      case 'offer':
        addOffer(c);
        break;
      case 'withdrawn':
        if (c && offers.has(c.id)) {
          removeOffer(c.id);
          // Said, unless it was our own Decline or Accept.
          if (msg.reason !== 'declined' && !accepting.has(c.id)) toast(`The offer from ${visitorName(c)} ${withdrawnText[msg.reason] || 'was withdrawn'}.`);
        }
        break;
      case 'update':
        if (c && contacts.has(c.id)) {
          const entry = contacts.get(c.id);
          const wasEnded = entry.ended;
          addContact(c);
          if (!wasEnded && entry.ended && !entry.ending) toast(`${visitorName(c)} left the conversation.`);
        } else if (c && c.status === 'in_progress' && c.agent === client.me?.id) {
          // A colleague handed it to us. A telephone caller on the line: the call with them moves
          // to us, so it starts at once. A callback's number is not dialled by itself (each call
          // costs and rings someone): Voice calls it when we choose.
          addContact(c, { call: c.onLine && c.media === 'voice' ? 'voice' : '' });
        }
        break;
      case 'agent':
        applyAgent(msg.agent);
        break;
      default:
    }
  }));
  // Messages in a contact that is not on screen: a count on its tab.
  offs.push(client.on('message', (m, conv) => {
    if (m.sender === client.me?.id) return;
    for (const [id, entry] of contacts) {
      if (entry.contact.conversation === conv.id && id !== selected) {
        entry.unread += 1;
        renderTabs();
      }
    }
  }));
  // Back after a lost connection: events may have been missed.
  offs.push(client.on('ready', () => { if (!destroyed) load(); }));
  const onVisible = () => {
    if (document.visibilityState === 'visible') contacts.get(selected)?.view?.shown({ focus: false });
  };
  document.addEventListener('visibilitychange', onVisible);

  renderState();
  renderOffersEmpty();
  showEmpty();
  load();
  frame.main.focus({ preventScroll: true });

  // For tests and debugging.
  window.__sbConsole = { ringer: ringer.state, offers, contacts };

  return {
    destroy() {
      destroyed = true;
      for (const off of offs) off();
      for (const id of [...offers.keys()]) removeOffer(id);
      for (const entry of contacts.values()) entry.view?.destroy();
      contacts.clear();
      ringer.close();
      document.removeEventListener('visibilitychange', onVisible);
      if (window.__sbConsole?.offers === offers) window.__sbConsole = null;
    },
  };
}

// The dialer (/phone, signed in, when the server has SIP on): a number field with a 12-key keypad, the
// call in progress (mute, hold, keypad tones, transfer, hang up, state and duration) and the person's
// call history from their call records (GET /api/v1/me/calls). Calls go through the SDK's browser
// phone (client.phone), which handles their media, so a call goes on when the page is left; coming
// back shows it again. Calls from telephones ring with the app's usual incoming-call screen (calls.js).
import { h, icon, toast, clear } from './ui.js';
import { api } from './session.js';
import { pageFrame } from './contact-ui.js';
import { openDialog } from './dialogs.js';
import { normalizeNumber } from '/sdk/phone.js';

/** The keypad: digit and letters, as on a phone. */
export const KEYS = [['1', ''], ['2', 'ABC'], ['3', 'DEF'], ['4', 'GHI'], ['5', 'JKL'], ['6', 'MNO'],
  ['7', 'PQRS'], ['8', 'TUV'], ['9', 'WXYZ'], ['*', ''], ['0', '+'], ['#', '']];

const STATE_TEXT = {
  ringing: 'Calling…', early: 'Ringing…', active: 'Connected', held: 'On hold', transferring: 'Transferring…', ended: 'Call ended',
};
export const CAUSE_TEXT = {
  hangup: 'Call ended', busy: 'Busy', no_answer: 'No answer', declined: 'Declined', cancelled: 'Cancelled',
  failed: 'The call failed', transferred: 'Transferred', answered_elsewhere: 'Answered on another device',
};
export const OUTCOME_TEXT = {
  answered: 'Answered', busy: 'Busy', no_answer: 'No answer', rejected: 'Rejected', cancelled: 'Cancelled', failed: 'Failed',
};

/** "1:05", "1:02:03": a running call's clock. */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const p = (n) => String(n).padStart(2, '0');
  return s >= 3600 ? `${Math.floor(s / 3600)}:${p(Math.floor((s % 3600) / 60))}:${p(s % 60)}` : `${Math.floor(s / 60)}:${p(s % 60)}`;
}

/** Whether the server has SIP on (and the person's extensions). Cached per page load. */
let phoneInfo = null;
export async function phoneFeature() {
  if (!phoneInfo) phoneInfo = api('/api/v1/me/phone').catch((err) => { phoneInfo = null; throw err; });
  return phoneInfo;
}

/** A 12-key keypad; onKey(digit) per press. */
export function keypad(onKey, { testid = 'keypad', label = 'Keypad' } = {}) {
  const pad = h('div.ph-keypad', { role: 'group', 'aria-label': label, 'data-testid': testid });
  for (const [d, letters] of KEYS) {
    pad.appendChild(h('button.ph-key', {
      type: 'button', 'data-key': d, 'aria-label': d === '*' ? 'Star' : d === '#' ? 'Pound' : d,
      onclick: () => onKey(d),
    }, h('span.ph-key-digit', { text: d }), h('span.ph-key-letters', { text: letters, 'aria-hidden': 'true' })));
  }
  return pad;
}

/**
 * @param {HTMLElement} root
 * @param {{client: import('/sdk/messaging.js').MessagingClient, calls: any, navigate: (path: string) => void}} app
 */
export function renderPhone(root, app) {
  const { client } = app;
  const phone = client.phone;
  document.title = 'Phone · Switchboard';
  const frame = pageFrame({ title: 'Phone', page: 'phone', role: client.me?.role || '', navigate: app.navigate });
  root.appendChild(frame.el);
  const offs = [];
  let destroyed = false;
  let timer = null;
  /** @type {import('/sdk/phone.js').PhoneCall|null} */
  let current = null;
  let redraw = () => {};
  let callOffs = [];

  // ------------------------------------------------------------------ dialer
  const number = h('input.input.ph-number', {
    type: 'tel', inputmode: 'tel', autocomplete: 'off', spellcheck: 'false', maxlength: '64',
    placeholder: 'Enter a number', 'aria-label': 'Number, extension or sip: address to call', title: 'A phone number, an extension, a username or a sip: address', 'data-testid': 'dial-number',
  });
  const backspace = h('button.icon-btn.ph-backspace', { type: 'button', 'aria-label': 'Delete the last digit', title: 'Delete', 'data-testid': 'dial-backspace' }, icon('back', { size: 20 }));
  const dialError = h('p.form-error', { role: 'alert', 'data-testid': 'dial-error', hidden: true });
  const callBtn = h('button.call-btn.call-accept.ph-call', { type: 'submit', 'aria-label': 'Call', title: 'Call', 'data-testid': 'dial-call' }, icon('phone', { size: 28 }));
  const pad = keypad((d) => {
    insertAtCursor(d);
    number.focus();
  }, { testid: 'dial-keypad', label: 'Dial pad' });
  const dialForm = h('form.ph-dialer', { 'data-testid': 'dialer', 'aria-label': 'Dialer' },
    h('div.ph-number-row', null, number, backspace), dialError, pad, h('div.ph-call-row', null, callBtn));
  backspace.addEventListener('click', () => {
    const s = number.selectionStart ?? number.value.length;
    const e = number.selectionEnd ?? s;
    const at = s === e ? Math.max(0, s - 1) : s;
    number.value = number.value.slice(0, at) + number.value.slice(e);
    number.setSelectionRange(at, at);
    number.focus();
  });
  number.addEventListener('paste', (ev) => {
    const text = ev.clipboardData?.getData('text') || '';
    if (!text) return;
    ev.preventDefault();
    let clean = text.trim();
    try { clean = normalizeNumber(text); } catch { /* keep what was pasted; calling will say what is wrong */ }
    insertAtCursor(clean);
  });
  number.addEventListener('input', () => { dialError.hidden = true; });
  dialForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    dial(number.value);
  });

  function insertAtCursor(text) {
    const s = number.selectionStart ?? number.value.length;
    const e = number.selectionEnd ?? s;
    number.value = (number.value.slice(0, s) + text + number.value.slice(e)).slice(0, 64);
    const at = Math.min(64, s + text.length);
    number.setSelectionRange(at, at);
    dialError.hidden = true;
  }

  async function dial(target) {
    if (current) {
      toast('You are already in a call.');
      return;
    }
    if (app.calls?.busy()) {
      toast('You are already in a call.');
      return;
    }
    let to;
    try {
      to = normalizeNumber(target);
    } catch (err) {
      dialError.textContent = err.message.replace(/^./, (c) => c.toUpperCase());
      dialError.hidden = false;
      number.focus();
      return;
    }
    number.value = to;
    callBtn.disabled = true;
    try {
      const call = await phone.call(to);
      if (destroyed) return;
      show(call);
    } catch (err) {
      dialError.textContent = err.code === 'not_found' ? `Nothing answers at ${to}.` : `Could not call: ${err.message}`;
      dialError.hidden = false;
    } finally {
      callBtn.disabled = false;
    }
  }

  // ------------------------------------------------------------------ in the call
  const inName = h('h2.ph-in-name', { 'data-testid': 'in-call-name' });
  const inState = h('p.ph-in-state', { role: 'status', 'aria-live': 'polite', 'data-testid': 'in-call-state' });
  const inClock = h('p.ph-in-clock', { 'data-testid': 'in-call-clock', 'aria-label': 'Call duration' });
  const sentKeys = h('p.ph-in-keys', { 'data-testid': 'in-call-keys', 'aria-live': 'polite' });
  const ctl = (testid, iconName, label, fn) => {
    const b = h('button.ph-ctl', { type: 'button', 'data-testid': testid, onclick: fn },
      h('span.ph-ctl-icon', null, icon(iconName, { size: 24 })), h('span.ph-ctl-label', { text: label }));
    return b;
  };
  const muteBtn = ctl('in-call-mute', 'mic', 'Mute', () => toggleMute());
  const holdBtn = ctl('in-call-hold', 'door', 'Hold', () => toggleHold());
  const keysBtn = ctl('in-call-keypad', 'keyboard', 'Keypad', () => toggleKeys());
  const transferBtn = ctl('in-call-transfer', 'swap', 'Transfer', () => askTransfer());
  const hangupBtn = h('button.call-btn.call-decline', { type: 'button', 'aria-label': 'Hang up', title: 'Hang up', 'data-testid': 'in-call-hangup' }, icon('callEnd', { size: 28 }));
  hangupBtn.addEventListener('click', () => current?.hangup().catch((err) => toast(`Could not hang up: ${err.message}`, { kind: 'error' })));
  const inPad = keypad((d) => {
    if (!current) return;
    try {
      current.sendDTMF(d);
      sentKeys.textContent = (sentKeys.textContent + d).slice(-24);
    } catch (err) {
      toast(`Keypad: ${err.message}`, { kind: 'error' });
    }
  }, { testid: 'in-call-dtmf', label: 'Keypad tones' });
  inPad.hidden = true;
  const inCall = h('section.ph-in-call', { 'data-testid': 'in-call', 'aria-label': 'Call in progress', hidden: true },
    inName, inState, inClock, sentKeys, inPad,
    h('div.ph-ctls', { role: 'toolbar', 'aria-label': 'Call controls' }, muteBtn, holdBtn, keysBtn, transferBtn),
    h('div.ph-call-row', null, hangupBtn));

  function show(call) {
    current = call;
    inName.textContent = call.to || call.from || 'Phone call';
    sentKeys.textContent = '';
    inPad.hidden = true;
    keysBtn.setAttribute('aria-pressed', 'false');
    dialForm.hidden = true;
    inCall.hidden = false;
    let activeSince = call.state === 'active' ? Date.now() : 0;
    const update = () => {
      if (current !== call) return;
      if (call.state === 'active' && !activeSince) activeSince = Date.now();
      let text = STATE_TEXT[call.state] || call.state;
      if (call.state === 'held' && call.heldBy === 'phone') text = 'Held by the other side';
      inState.textContent = text;
      inState.dataset.state = call.state;
      inClock.textContent = activeSince ? clock((Date.now() - activeSince) / 1000) : '';
      const live = call.state === 'active' || call.state === 'held';
      holdBtn.disabled = !live;
      transferBtn.disabled = !live;
      keysBtn.disabled = !live && call.state !== 'early';
      const held = call.state === 'held';
      holdBtn.setAttribute('aria-pressed', String(held));
      holdBtn.querySelector('.ph-ctl-label').textContent = held ? 'Resume' : 'Hold';
      muteBtn.setAttribute('aria-pressed', String(call.muted));
      clear(muteBtn.querySelector('.ph-ctl-icon')).appendChild(icon(call.muted ? 'micOff' : 'mic', { size: 24 }));
      muteBtn.querySelector('.ph-ctl-label').textContent = call.muted ? 'Unmute' : 'Mute';
    };
    update();
    redraw = update;
    clearInterval(timer);
    timer = setInterval(update, 1000);
    for (const o of callOffs) o();
    callOffs = [
      call.on('state', update),
      call.on('error', (err) => toast(`Call audio: ${err.message}`, { kind: 'error' })),
      call.on('transferFailed', () => toast('The transfer did not go through: the call goes on.', { kind: 'error' })),
      call.on('transferred', ({ number, name }) => {
        // The other side transferred us: the call goes on with another telephone.
        const who = name && name !== number ? `${name} (${number})` : number;
        inName.textContent = who;
        inName.dataset.number = number;
        toast(`Transferred: you are now talking with ${who}.`);
      }),
      call.once('ended', ({ cause, duration }) => ended(call, cause, duration)),
    ];
    hangupBtn.focus();
  }

  function ended(call, cause, duration) {
    for (const o of callOffs) o();
    callOffs = [];
    if (current !== call) return;
    toast(cause === 'hangup' && duration ? `Call ended (${clock(duration)})` : CAUSE_TEXT[cause] || 'Call ended');
    current = null;
    clearInterval(timer);
    inCall.hidden = true;
    dialForm.hidden = false;
    if (!destroyed) {
      number.focus();
      // The records are written as the SIP legs end: look again shortly.
      setTimeout(() => !destroyed && loadHistory(), 1500);
      setTimeout(() => !destroyed && loadHistory(), 5000);
    }
  }

  async function toggleMute() {
    if (!current) return;
    await current.setMuted(!current.muted);
    redraw();
  }

  async function toggleHold() {
    if (!current) return;
    try {
      if (current.state === 'held') await current.resume();
      else await current.hold();
    } catch (err) {
      toast(`Could not ${current?.state === 'held' ? 'resume' : 'hold'}: ${err.message}`, { kind: 'error' });
    }
  }

  function toggleKeys() {
    inPad.hidden = !inPad.hidden;
    keysBtn.setAttribute('aria-pressed', String(!inPad.hidden));
    if (!inPad.hidden) inPad.querySelector('button')?.focus();
  }

  function askTransfer() {
    if (!current) return;
    const call = current;
    const input = h('input.input.input-light', { type: 'tel', inputmode: 'tel', autocomplete: 'off', 'aria-label': 'Transfer to', placeholder: 'Extension or username', 'data-testid': 'transfer-target' });
    const err = h('p.form-error', { role: 'alert', hidden: true });
    const go = h('button.btn.btn-primary', { type: 'submit', text: 'Transfer', 'data-testid': 'transfer-go' });
    const form = h('form.ph-transfer', null, h('label.field', null, h('span.field-label', { text: 'Transfer the call to' }), input), err);
    const dlg = openDialog({ title: 'Transfer the call', testid: 'transfer-dialog', body: [form], foot: [go] });
    const submit = async (ev) => {
      ev?.preventDefault();
      go.disabled = true;
      try {
        await call.transfer(input.value);
        dlg.close();
      } catch (e) {
        err.textContent = e.message;
        err.hidden = false;
      } finally {
        go.disabled = false;
      }
    };
    form.addEventListener('submit', submit);
    go.addEventListener('click', submit);
    input.focus();
  }

  // ------------------------------------------------------------------ history
  const histBody = h('ul.ph-history', { 'data-testid': 'call-history', 'aria-label': 'Recent calls' });
  const histMore = h('button.btn.btn-text.btn-sm', { type: 'button', text: 'Show more', 'data-testid': 'history-more', hidden: true });
  const histError = h('p.form-error', { role: 'alert', hidden: true });
  let next = '';
  histMore.addEventListener('click', () => loadHistory(next));
  const history = h('section.cc-card.ph-history-card', { 'aria-labelledby': 'ph-history-title' },
    h('div.ph-history-head', null, h('h2.cc-card-title', { id: 'ph-history-title', text: 'Recent calls' }),
      h('button.icon-btn.icon-btn-sm', { type: 'button', 'aria-label': 'Refresh', title: 'Refresh', 'data-testid': 'history-refresh', onclick: () => loadHistory() }, icon('swap', { size: 18 }))),
    histError, histBody, histMore);

  function historyRow(r) {
    const outgoing = r.mine === 'outgoing';
    const missed = !outgoing && r.outcome !== 'answered';
    const who = r.peerName ? `${r.peerName} (${r.peer})` : (r.peer || 'Unknown');
    const when = new Date(r.startedAt);
    const back = h('button.ph-history-call', {
      type: 'button', 'data-testid': 'history-call', 'data-number': r.peer,
      'aria-label': `Call ${who} back`, title: `Call ${r.peer}`, disabled: !r.peer,
    }, icon('phone', { size: 18 }));
    back.addEventListener('click', () => {
      number.value = r.peer;
      dial(r.peer);
    });
    return h(`li.ph-history-row${missed ? '.ph-missed' : ''}`, { 'data-testid': 'history-row', 'data-outcome': r.outcome, 'data-direction': r.mine },
      h('span.ph-dir', { 'aria-label': outgoing ? 'Outgoing' : 'Incoming', title: outgoing ? 'Outgoing' : 'Incoming', text: outgoing ? '↗' : '↙' }),
      h('span.ph-history-text', null,
        h('span.ph-history-who', { text: who, 'data-testid': 'history-peer' }),
        h('span.ph-history-sub', null,
          h('time', { datetime: r.startedAt, text: when.toLocaleString([], { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' }) }),
          h('span', { text: ` · ${OUTCOME_TEXT[r.outcome] || r.outcome}` }),
          r.duration ? h('span', { text: ` · ${clock(r.duration)}`, 'data-testid': 'history-duration' }) : null)),
      back);
  }

  async function loadHistory(cursor = '') {
    try {
      const data = await api(`/api/v1/me/calls?limit=25${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      if (destroyed) return;
      histError.hidden = true;
      if (!cursor) histBody.replaceChildren();
      for (const r of data.calls || []) histBody.appendChild(historyRow(r));
      if (!histBody.children.length) histBody.appendChild(h('li.muted.ph-history-empty', { text: 'No calls yet.' }));
      next = data.next || '';
      histMore.hidden = !next;
    } catch (err) {
      if (destroyed) return;
      histError.textContent = `Could not load your calls: ${err.message}`;
      histError.hidden = false;
    }
  }

  // ------------------------------------------------------------------ page
  const off = h('div.cc-card.ph-off', { hidden: true, 'data-testid': 'phone-off' },
    h('h2.cc-card-title', { text: 'Telephony is off' }),
    h('p.muted', { text: 'This server does not have its SIP gateway turned on, so there is nobody to call. An admin can enable it (sip.enabled).' }));
  const extLine = h('p.muted.small.ph-ext', { 'data-testid': 'my-extensions' });
  const dialCard = h('section.cc-card.ph-dial-card', { 'aria-label': 'Phone' }, dialForm, inCall, extLine);
  frame.main.appendChild(h('div.ph-page', null, off, h('div.ph-grid', null, dialCard, history)));

  // Keyboard: digits typed anywhere on the page go to the number (or as tones during a call).
  const onKey = (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const t = ev.target;
    if (t instanceof Element && (t.closest('input, textarea, select, dialog, [contenteditable]'))) return;
    if (!/^[0-9*#+]$/.test(ev.key)) return;
    if (current && (current.state === 'active' || current.state === 'held' || current.state === 'early')) {
      if (ev.key === '+') return;
      ev.preventDefault();
      inPad.querySelector(`[data-key="${CSS.escape(ev.key)}"]`)?.click();
      return;
    }
    if (!current) {
      ev.preventDefault();
      number.focus();
      insertAtCursor(ev.key);
    }
  };
  document.addEventListener('keydown', onKey);
  offs.push(() => document.removeEventListener('keydown', onKey));

  phoneFeature().then((info) => {
    if (destroyed) return;
    if (!info.enabled) {
      off.hidden = false;
      dialCard.hidden = true;
      return;
    }
    if (info.extensions?.length) extLine.textContent = `Your desk phone: ${info.extensions.join(', ')}`;
  }).catch(() => {});
  // A call placed here earlier (the page was left meanwhile) is shown again.
  const ongoing = [...phone.calls.values()].find((c) => !c.incoming && c.state !== 'ended');
  if (ongoing) show(ongoing);
  else number.focus();
  loadHistory();
  window.__sbPhonePage = { dial, get call() { return current; } }; // for tests

  return {
    destroy() {
      destroyed = true;
      clearInterval(timer);
      for (const o of [...offs, ...callOffs]) o();
      if (window.__sbPhonePage?.dial === dial) window.__sbPhonePage = null;
    },
  };
}

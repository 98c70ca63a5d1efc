// Calls between people: the full-screen incoming call, the "Calling…" screen, and the call itself,
// which reuses the meeting's call screen (call.js) on the call's media room. These screens live
// outside the routed page, so navigating within the app does not end a call.
import { h, icon, toast, initials, avatarColor } from './ui.js';
import { getMedia, mediaProblemText, stopStream } from './media.js';
import { renderCall } from './call.js';
import { openDialog } from './dialogs.js';
import { keypad } from './phone.js';

const ENDED_TEXT = {
  declined: 'The call was declined',
  busy: 'They are in another call',
  no_answer: 'No answer',
  cancelled: 'The call was cancelled',
  failed: 'The call failed',
  hangup: 'Call ended',
  answered_elsewhere: 'Answered on another device',
  transferred: 'The call was transferred',
};

/** Whether a call has a telephone in it (a desk phone or a number): it can be held and transferred. */
const withPhone = (call) => !!call.phone || !call.from;

/**
 * @param {import('/sdk/messaging.js').MessagingClient} client
 * @returns {{start: (target: {user?: string, conversation?: string, phone?: string}, video: boolean) => Promise<void>, busy: () => boolean, destroy: () => void}}
 */
export function installCalls(client) {
  /** @type {Map<string, HTMLElement>} incoming call screens by call id */
  const ringing = new Map();
  /** The call we are in (or calling out with): {call, layer, view, stream} */
  let active = null;

  const nameOf = (call) => {
    const conv = client.conversations.get(call.conversation);
    if (call.group && conv) return conv.title;
    if (call.phone && !conv?.peer) return call.phoneName || call.phone; // no conversation, or a customer contact's
    if (!call.from) return call.phoneName || call.phone || 'Unknown number';
    return client.displayName(call.incoming ? call.from : (conv?.peer || call.invited[0]));
  };

  // ------------------------------------------------------------------ incoming
  function showIncoming(call) {
    if (ringing.has(call.id) || (active && active.call === call)) return;
    const conv = client.conversations.get(call.conversation);
    const who = call.from ? client.displayName(call.from) : (call.phoneName ? `${call.phoneName} (${call.phone})` : call.phone || 'Unknown number');
    const titleId = `inc-${call.id}`;
    const accept = h('button.call-btn.call-accept', { type: 'button', 'data-testid': 'call-accept', 'aria-label': call.video ? 'Accept video call' : 'Accept call' },
      icon(call.video ? 'cam' : 'phone', { size: 28 }));
    const decline = h('button.call-btn.call-decline', { type: 'button', 'data-testid': 'call-decline', 'aria-label': 'Decline' },
      icon('callEnd', { size: 28 }));
    const screen = h('div.call-screen.incoming', {
      role: 'alertdialog', 'aria-modal': 'true', 'aria-labelledby': titleId, 'data-testid': 'incoming-call', 'data-call': call.id,
    },
    h('div.call-screen-inner', null,
      h('div.ring', { 'aria-hidden': 'true' },
        h('span.ring-wave'), h('span.ring-wave.w2'), h('span.ring-wave.w3'),
        h('div.avatar.avatar-xl', { style: { background: avatarColor(call.from) }, text: initials(who) })),
      h('h1', { id: titleId, text: who }),
      h('p.call-screen-sub', { text: `${call.video ? 'Incoming video call' : call.from ? 'Incoming call' : 'Incoming phone call'}${call.group && conv ? ` in ${conv.title}` : ''}` }),
      h('div.call-screen-actions', null,
        h('div.call-action', null, decline, h('span', { text: 'Decline' })),
        h('div.call-action', null, accept, h('span', { text: 'Accept' })))));
    document.body.appendChild(screen);
    ringing.set(call.id, screen);
    accept.focus();
    accept.addEventListener('click', async () => {
      accept.disabled = true;
      decline.disabled = true;
      try {
        if (active) await hangupActive();
        await call.answer();
        removeIncoming(call.id);
        await enter(call);
      } catch (err) {
        removeIncoming(call.id);
        toast(`Could not answer: ${err.message}`, { kind: 'error' });
      }
    });
    decline.addEventListener('click', () => {
      removeIncoming(call.id);
      call.decline().catch(() => {});
    });
    screen.addEventListener('keydown', (ev) => {
      // Keep focus in the screen.
      if (ev.key === 'Tab') {
        const order = [decline, accept];
        const i = order.indexOf(document.activeElement);
        ev.preventDefault();
        order[(i + (ev.shiftKey ? -1 : 1) + order.length) % order.length].focus();
      }
    });
    const off = call.on('state', () => {
      if (call.state === 'ended') {
        off();
        if (ringing.has(call.id)) {
          removeIncoming(call.id);
          if (call.reason !== 'answered_elsewhere' && call.reason !== 'declined') toast(`Missed call from ${who}`);
        }
      }
    });
  }

  function removeIncoming(id) {
    ringing.get(id)?.remove();
    ringing.delete(id);
  }

  // ------------------------------------------------------------------ outgoing
  async function start(target, video) {
    if (active) {
      toast('You are already in a call.');
      return;
    }
    const conv = target.conversation ? client.conversations.get(target.conversation) : null;
    const label = conv ? conv.title : (target.phone || client.displayName(target.user));
    const cancel = h('button.call-btn.call-decline', { type: 'button', 'data-testid': 'call-cancel', 'aria-label': 'Cancel call' }, icon('callEnd', { size: 28 }));
    const status = h('p.call-screen-sub', { role: 'status', text: video ? 'Starting video call…' : 'Starting call…' });
    const avatarKey = conv?.peer || target.user || target.conversation || target.phone;
    const screen = h('div.call-screen.outgoing', { role: 'dialog', 'aria-modal': 'true', 'aria-label': `Calling ${label}`, 'data-testid': 'outgoing-call' },
      h('div.call-screen-inner', null,
        h('div.ring.calm', { 'aria-hidden': 'true' },
          h('span.ring-wave'), h('span.ring-wave.w2'),
          h('div.avatar.avatar-xl', { style: { background: avatarColor(avatarKey) }, text: initials(label) })),
        h('h1', { text: label }),
        status,
        h('div.call-screen-actions', null, h('div.call-action', null, cancel, h('span', { text: 'Cancel' })))));
    document.body.appendChild(screen);
    cancel.focus();
    const entry = { call: null, layer: screen, view: null, stream: null, outgoing: true };
    active = entry;
    let cancelled = false;
    cancel.addEventListener('click', () => {
      cancelled = true;
      if (entry.call) entry.call.hangup().catch(() => {});
      finish(entry);
    });
    try {
      const call = await client.call(conv ? { conversation: conv.id } : target.phone ? { phone: target.phone } : { user: target.user }, { video });
      entry.call = call;
      if (cancelled) {
        call.hangup().catch(() => {});
        return;
      }
      // A call can end before it is answered here (the callee is busy).
      if (call.state === 'ended') {
        toast(ENDED_TEXT[call.reason] || 'The call ended');
        finish(entry);
        return;
      }
      status.textContent = call.group ? 'Opening the call…' : `Calling ${label}…`;
      call.on('state', () => {
        if (call.state === 'early' && active === entry && !entry.view) status.textContent = `Ringing ${label}…`;
        if (call.state === 'ended' && active === entry && !entry.view) {
          toast(ENDED_TEXT[call.reason] || 'The call ended');
          finish(entry);
        }
      });
      if (call.state === 'accepted') enter(call, entry);
      else {
        // Early media (a telephone's ringback) comes first: wait for the answer itself.
        const off = call.on('state', () => {
          if (call.state === 'accepted' || call.state === 'ended') off();
          if (call.state === 'accepted' && active === entry) enter(call, entry);
        });
      }
    } catch (err) {
      toast(`Could not call: ${err.message}`, { kind: 'error' });
      finish(entry);
    }
  }

  // ------------------------------------------------------------------ in the call
  /** Joins the call's media room and shows the call screen. */
  async function enter(call, entry = null) {
    if (!entry) {
      entry = { call, layer: null, view: null, stream: null };
      active = entry;
    }
    entry.call = call;
    const media = await getMedia({ audio: true, video: call.video });
    entry.stream = media.stream;
    if (media.problem) toast(mediaProblemText(media.problem, media), { kind: 'error' });
    if (active !== entry || call.state === 'ended') {
      stopStream(media.stream);
      return;
    }
    let room;
    try {
      room = await call.join();
    } catch (err) {
      stopStream(media.stream);
      if (active === entry) {
        if (call.state !== 'ended') toast(`Could not join the call: ${err.message}`, { kind: 'error' });
        call.hangup().catch(() => {});
        finish(entry);
      }
      return;
    }
    if (active !== entry) {
      room.leave();
      return;
    }
    show(entry, room, media.stream);
    // Someone was added to a two-party call: it moved to a meeting room. Follow it, with fresh media
    // (the call screen stops its tracks when it closes).
    call.on('room', async (r) => {
      if (active !== entry || r === entry.room) return;
      const again = await getMedia({ audio: true, video: call.video });
      if (active === entry) show(entry, r, again.stream);
      else stopStream(again.stream);
    });
    call.on('ended', ({ reason, duration }) => {
      if (active !== entry) return;
      toast(reason === 'hangup' && duration ? `Call ended (${Math.max(1, Math.round(duration / 60))} min)` : ENDED_TEXT[reason] || 'Call ended');
    });
  }

  function show(entry, room, stream) {
    const call = entry.call;
    entry.stream = stream;
    entry.room = room;
    if (entry.view) {
      entry.ending = true;
      entry.view.destroy();
      entry.ending = false;
    }
    const layer = h('div.call-layer', { 'data-testid': 'call-layer', 'data-call': call.id });
    entry.layer?.remove();
    entry.layer = layer;
    document.body.appendChild(layer);
    const addBtn = h('button.chip-btn', { type: 'button', 'data-testid': 'call-add-people', title: 'Add people to the call' },
      icon('personAdd', { size: 18 }), h('span', { text: 'Add people' }));
    addBtn.addEventListener('click', () => addPeople(call));
    entry.view = renderCall(layer, {
      room, stream, micOn: true, camOn: call.video && stream.getVideoTracks().length > 0,
      roomId: room.id, title: nameOf(call), private: true, headerActions: withPhone(call) ? phoneActions(call, entry) : [addBtn],
      onEnd: () => {
        if (entry.ending) return;
        if (call.state !== 'ended') call.hangup().catch(() => {});
        finish(entry);
      },
    });
  }

  /** Hold, keypad and transfer for a call with a telephone, in the call screen's header. */
  function phoneActions(call, entry) {
    const holdLabel = h('span', { text: 'Hold' });
    const holdBtn = h('button.chip-btn', { type: 'button', 'data-testid': 'call-hold', 'aria-pressed': 'false', title: 'Put the call on hold' }, icon('door', { size: 18 }), holdLabel);
    const keysBtn = h('button.chip-btn', { type: 'button', 'data-testid': 'call-keypad', title: 'Keypad tones' }, icon('keyboard', { size: 18 }), h('span', { text: 'Keypad' }));
    const moveBtn = h('button.chip-btn', { type: 'button', 'data-testid': 'call-transfer', title: 'Transfer the call' }, icon('swap', { size: 18 }), h('span', { text: 'Transfer' }));
    const sync = () => {
      holdLabel.textContent = call.held ? 'Resume' : 'Hold';
      holdBtn.setAttribute('aria-pressed', String(call.held));
      holdBtn.title = call.held ? (call.heldBy === 'phone' ? 'The other side put the call on hold' : 'Take the call off hold') : 'Put the call on hold';
    };
    sync();
    const off = call.on('state', () => {
      if (active !== entry || call.state === 'ended') { off(); return; }
      sync();
      if (call.state === 'held' && call.heldBy === 'phone') toast('The other side put the call on hold');
    });
    call.on('transferFailed', () => { if (active === entry) toast('The transfer did not go through: the call goes on.', { kind: 'error' }); });
    holdBtn.addEventListener('click', () => (call.held ? call.resume() : call.hold()).catch((err) => toast(`Could not ${call.held ? 'resume' : 'hold'}: ${err.message}`, { kind: 'error' })));
    keysBtn.addEventListener('click', () => {
      const typed = h('p.ph-in-keys', { 'aria-live': 'polite', 'data-testid': 'call-keys-sent' });
      const pad = keypad((d) => {
        try {
          call.sendDTMF(d);
          typed.textContent = (typed.textContent + d).slice(-24);
        } catch (err) {
          toast(`Keypad: ${err.message}`, { kind: 'error' });
        }
      }, { testid: 'call-dtmf', label: 'Keypad tones' });
      openDialog({ title: 'Keypad', testid: 'call-keypad-dialog', body: [typed, pad] });
      pad.querySelector('button')?.focus();
    });
    moveBtn.addEventListener('click', () => {
      const input = h('input.input.input-light', { type: 'tel', autocomplete: 'off', 'aria-label': 'Transfer to', placeholder: 'Number, extension or username', 'data-testid': 'transfer-target' });
      const err = h('p.form-error', { role: 'alert', hidden: true });
      const go = h('button.btn.btn-primary', { type: 'button', text: 'Transfer', 'data-testid': 'transfer-go' });
      const dlg = openDialog({ title: 'Transfer the call', testid: 'transfer-dialog', body: [input, err], foot: [go] });
      const submit = async () => {
        try {
          await call.transfer(input.value.trim());
          dlg.close();
        } catch (e) {
          err.textContent = e.message;
          err.hidden = false;
        }
      };
      go.addEventListener('click', submit);
      input.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') submit(); });
      input.focus();
    });
    return [holdBtn, keysBtn, moveBtn];
  }

  function addPeople(call) {
    const me = client.me?.id;
    const inCall = new Set([call.from, ...call.invited, me]);
    const list = h('ul.pick-list');
    const chosen = new Set();
    for (const u of [...client.users.values()].filter((x) => !inCall.has(x.id) && !x.disabled)) {
      const cb = h('input', { type: 'checkbox', 'aria-label': `Add ${u.displayName}` });
      cb.addEventListener('change', () => (cb.checked ? chosen.add(u.id) : chosen.delete(u.id)));
      list.appendChild(h('li', null, h('label.pick-item', null, h('span.person-row', null, h('span.person-name', { text: u.displayName || u.username }), cb))));
    }
    const go = h('button.btn.btn-primary', { type: 'button', text: 'Ring them' });
    const dlg = openDialog({ title: 'Add people to the call', testid: 'call-add-dialog', body: [list], foot: [go] });
    go.addEventListener('click', async () => {
      if (!chosen.size) return;
      try {
        await call.add([...chosen]);
        dlg.close();
      } catch (err) {
        toast(`Could not add: ${err.message}`, { kind: 'error' });
      }
    });
  }

  function finish(entry) {
    if (entry.view) {
      entry.ending = true;
      entry.view.destroy();
      entry.view = null;
    }
    stopStream(entry.stream);
    entry.layer?.remove();
    entry.layer = null;
    if (active === entry) active = null;
    if (window.__sb && entry.room && window.__sb.room === entry.room) window.__sb = null;
  }

  async function hangupActive() {
    const entry = active;
    if (!entry) return;
    if (entry.call) await entry.call.hangup().catch(() => {});
    finish(entry);
  }

  const offs = [
    client.on('incomingCall', (call) => showIncoming(call)),
  ];

  return {
    start,
    busy: () => !!active,
    destroy() {
      for (const off of offs) off();
      for (const id of [...ringing.keys()]) removeIncoming(id);
      if (active) hangupActive();
    },
  };
}

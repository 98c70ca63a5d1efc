// Meeting flow for /m/{room}: pre-join → (lobby) → call → left.
import { connect } from '/sdk/switchboard.js';
import { h, icon, logo, clear } from './ui.js';
import { renderPrejoin } from './prejoin.js';
import { renderCall } from './call.js';
import { stopStream } from './media.js';

/** Human message for a join error code. */
export function joinErrorText(err) {
  switch (err && err.code) {
    case 'room_full': return 'This meeting is full. Try again later or ask the host.';
    case 'room_locked': return 'The host has locked this meeting. Ask them to unlock it.';
    case 'denied': return 'Someone in the meeting denied your request to join.';
    case 'token_expired': return 'This meeting link has expired. Ask for a new one.';
    case 'unauthorized': return 'This meeting link is not valid. Ask for a new one.';
    case 'forbidden': return 'You are not allowed to join this meeting. You may need to sign in.';
    case 'not_found': return 'This meeting does not exist. Check the code or link.';
    case 'bad_request': return `The server refused the request: ${err.message}`;
    case 'unsupported_version': return 'This page is out of date. Reload it.';
    case 'rate_limited': return 'Too many attempts. Wait a moment and try again.';
    case 'timeout':
    case 'network':
    case 'disconnected':
      return 'Could not reach the meeting server. Check your connection and try again.';
    default: return `Could not join the meeting${err && err.message ? `: ${err.message}` : '.'}`;
  }
}

const LEFT_TEXT = {
  left: ['You left the meeting', ''],
  removed: ['You were removed from the meeting', 'A host removed you.'],
  'room-closed': ['The meeting has ended', 'The host closed the meeting.'],
  shutdown: ['The meeting server is restarting', 'Try rejoining in a moment.'],
  replaced: ['You joined from another tab', 'This tab left the meeting.'],
  'resume-failed': ['You lost your connection', 'We could not reconnect you to the meeting.'],
};

const DEBUG = (() => {
  try { return new URLSearchParams(location.search).has('debug') || localStorage.getItem('sb.debug') === '1'; } catch { return false; }
})();

export function startMeeting(root, { roomId, token, navigate }) {
  let view = null;
  let destroyed = false;
  let abort = null;
  document.title = `${roomId} · Switchboard`;

  const show = (factory) => {
    if (view && view.destroy) view.destroy();
    clear(root);
    view = factory();
  };

  const showPrejoin = (message, initial) => {
    show(() => renderPrejoin(root, { roomId, message, initial, onJoin, navigate }));
  };

  const showWaiting = () => {
    const cancel = h('button.btn.btn-outline', { type: 'button', 'data-testid': 'lobby-cancel', text: 'Cancel', onclick: () => abort && abort.abort() });
    const page = h('div.center-page', null,
      h('header.topbar', null, h('a.brand', { href: '/', 'aria-label': 'Switchboard home' }, logo(28), h('span.brand-name', { text: 'Switchboard' }))),
      h('main.center-card', { id: 'main', 'data-testid': 'lobby-waiting', role: 'status', 'aria-live': 'polite' },
        h('div.spinner', { 'aria-hidden': 'true' }),
        h('h1', { text: 'Waiting for the host to let you in' }),
        h('p.muted', { text: 'You asked to join. You will be in the meeting as soon as a host admits you.' }),
        cancel));
    // Keep the pre-join screen (and its stream) alive underneath: just overlay.
    page.classList.add('overlay-page');
    root.appendChild(page);
    cancel.focus();
    return page;
  };

  async function onJoin(choice) {
    abort = new AbortController();
    let waitingPage = null;
    let room;
    try {
      room = await connect('', {
        room: roomId, name: choice.name, token, signal: abort.signal, debug: DEBUG,
        // Answer the subscribe offer before publishing and laying out the call, which keep the main
        // thread busy: the others' video starts sooner (the call reads room.tracks when it renders).
        subscribeWait: 1000,
        onWaiting: () => { waitingPage = showWaiting(); },
      });
    } catch (err) {
      waitingPage?.remove();
      if (destroyed) return;
      if (err.code === 'aborted') return;
      view?.showError?.(joinErrorText(err));
      return;
    }
    waitingPage?.remove();
    if (destroyed) {
      room.leave();
      return;
    }
    view.handOver?.();
    show(() => renderCall(root, {
      room, stream: choice.stream, micOn: choice.micOn, camOn: choice.camOn,
      audioId: choice.audioId, videoId: choice.videoId, roomId,
      onEnd: (reason) => showLeft(reason, { micOn: choice.micOn, camOn: choice.camOn }),
    }));
  }

  const showLeft = (reason, initial) => {
    const [title, sub] = LEFT_TEXT[reason] || LEFT_TEXT.left;
    show(() => {
      const rejoin = h('button.btn.btn-primary', { type: 'button', 'data-testid': 'rejoin', text: 'Rejoin', onclick: () => showPrejoin(undefined, initial) });
      const home = h('button.btn.btn-outline', { type: 'button', 'data-testid': 'home', text: 'Return to home screen', onclick: () => navigate('/') });
      const page = h('div.center-page', null,
        h('header.topbar', null, h('a.brand', { href: '/', 'aria-label': 'Switchboard home' }, logo(28), h('span.brand-name', { text: 'Switchboard' }))),
        h('main.center-card', { id: 'main', 'data-testid': 'left-screen' },
          h('div.left-icon', { 'aria-hidden': 'true' }, icon(reason === 'left' ? 'callEnd' : 'warning', { size: 36 })),
          h('h1', { text: title }),
          sub ? h('p.muted', { text: sub }) : null,
          h('div.btn-row', null, rejoin, home)));
      root.appendChild(page);
      rejoin.focus();
      return { destroy() {} };
    });
  };

  showPrejoin();

  return {
    destroy() {
      destroyed = true;
      abort?.abort();
      if (view && view.destroy) view.destroy();
      view = null;
    },
  };
}

export { stopStream };

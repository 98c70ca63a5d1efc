// Phones in meetings: the dial-in details (extension and PIN) for everyone, and for hosts a small
// form that calls a phone (an extension, or a telephone number for signed-in accounts allowed to
// call them) into the meeting (room.dialOut), with its progress as toasts.
import { h, toast } from './ui.js';

/** "123456789" → "123 456 789", easier to key on a phone. */
export function formatPIN(pin) {
  return String(pin).replace(/(\d{3})(?=\d)/g, '$1 ');
}

/** "Dial in: extension meet, PIN 123 456 789", or '' when the meeting has no dial-in. */
export function dialInText(room) {
  const d = room.dialIn;
  return d ? `Dial in: extension ${d.extension}, PIN ${formatPIN(d.pin)}` : '';
}

/** A paragraph with the dial-in details, or null. */
export function dialInLine(room) {
  const text = dialInText(room);
  return text ? h('p.dial-in', { 'data-testid': 'dial-in', text }) : null;
}

/** The hosts' "Call a phone" form. Create it once: it keeps what is typed across re-renders. */
export function dialOutForm(room) {
  const input = h('input.dial-out-input', {
    type: 'text', inputmode: 'tel', autocomplete: 'off', maxlength: '64', placeholder: 'Number or extension',
    'aria-label': 'Phone to call into the meeting (a telephone number or an extension)', 'data-testid': 'dial-out-target',
    'aria-describedby': 'dial-out-hint',
  });
  const button = h('button.btn.btn-outline.btn-sm', { type: 'submit', 'data-testid': 'dial-out', text: 'Call a phone' });
  // What may be called is the server's decision; the hint says what it will accept.
  const hint = h('p.dial-out-hint', {
    id: 'dial-out-hint', 'data-testid': 'dial-out-hint',
    text: 'An extension, or a telephone number if you are signed in with an account that may call numbers '
      + '(members, agents, admins; only numbers your server allows).',
  });
  const form = h('form.dial-out', { 'aria-label': 'Call a phone into the meeting' }, input, button, hint);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const target = input.value.trim();
    if (!target) {
      input.focus();
      return;
    }
    button.disabled = true;
    room.dialOut(target)
      .then(() => { input.value = ''; toast(`Calling ${target}…`); })
      .catch((err) => toast(`Could not call ${target}: ${err.message}`, { kind: 'error' }))
      .finally(() => { button.disabled = false; });
  });
  return form;
}

// 'answered' has no toast of its own: the phone joining the meeting already shows "… joined".
const PROGRESS_TEXT = {
  ringing: (t) => `${t} is ringing`,
  ended: (t) => `${t} hung up`,
};

const FAILED_TEXT = {
  busy: 'the line is busy', declined: 'the call was declined', 'no-answer': 'nobody answered',
  'not-registered': 'the phone is not connected', 'no-such-number': 'the number does not exist',
  'lines-busy': 'all lines to the telephone network are busy', codec: 'the phone speaks no codec the meeting can use',
};

/** Toast for a dialProgress event. */
export function showDialProgress(p) {
  if (p.state === 'failed') {
    toast(`Could not reach ${p.target}: ${FAILED_TEXT[p.reason] || 'the call failed'}`, { kind: 'error' });
  } else if (PROGRESS_TEXT[p.state]) {
    toast(PROGRESS_TEXT[p.state](p.target));
  }
}

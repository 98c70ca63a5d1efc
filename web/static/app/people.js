// Participants panel: list with host badge and raised hands first; host controls for hosts.
import { h, icon, clear, initials, avatarColor, toast } from './ui.js';
import { dialInLine, dialOutForm } from './phones.js';

/**
 * @param {import('/sdk/switchboard.js').Room} room
 * @param {{onClose: () => void, getTracks: () => any[], isLocalMicMuted: () => boolean}} opts
 */
export function createPeople(room, opts) {
  const title = h('h2', { id: 'people-title', text: 'People' });
  const closeBtn = h('button.icon-btn', { type: 'button', 'aria-label': 'Close participants', title: 'Close', onclick: () => opts.onClose() }, icon('close', { size: 20 }));
  const body = h('div.panel-body');
  const el = h('section.panel.people-panel', { 'aria-labelledby': 'people-title' },
    h('div.panel-head', null, title, closeBtn), body);

  const fail = (what) => (err) => toast(`Could not ${what}: ${err.message}`, { kind: 'error' });
  const dialForm = room.dialIn ? dialOutForm(room) : null; // hosts call phones in when there is telephony

  function sw(label, checked, onChange, testid) {
    const input = h('input', { type: 'checkbox', role: 'switch', 'data-testid': testid, 'prop:checked': !!checked });
    input.addEventListener('change', () => onChange(input.checked));
    return h('label.switch-row', null, h('span', { text: label }), h('span.switch', null, input, h('span.switch-ui', { 'aria-hidden': 'true' })));
  }

  function render() {
    if (!el.isConnected) return;
    const me = room.localParticipant;
    if (!me) return;
    const isHost = !!me.host;
    const focusedTestId = document.activeElement && el.contains(document.activeElement) ? document.activeElement.dataset.testid : null;
    const focusedPid = focusedTestId ? document.activeElement.closest('[data-participant]')?.dataset.participant : null;
    clear(body);
    const dialIn = dialInLine(room);
    if (dialIn) body.appendChild(dialIn);

    if (isHost) {
      const info = room.info || {};
      body.appendChild(h('div.host-controls', { 'aria-label': 'Host controls', role: 'group' },
        h('h3.section-title', { text: 'Host controls' }),
        sw('Lock meeting', info.locked, (v) => room.host.lock(v).catch(fail(v ? 'lock the meeting' : 'unlock the meeting')), 'host-lock'),
        sw('Ask to join (lobby)', info.lobby, (v) => room.host.lobby(v).catch(fail('change the lobby')), 'host-lobby'),
        dialForm));
      if (room.lobby.size) {
        const waiting = h('ul.people-list', { 'aria-label': 'Waiting to join' });
        for (const p of room.lobby.values()) {
          waiting.appendChild(h('li.person', { 'data-testid': 'lobby-item', 'data-participant': p.id },
            h('div.avatar.avatar-sm', { style: { background: avatarColor(p.id) }, text: initials(p.name), 'aria-hidden': 'true' }),
            h('span.person-name', { text: p.name }),
            h('span.person-actions', null,
              h('button.btn.btn-text.btn-sm', { type: 'button', 'data-testid': 'lobby-deny', text: 'Deny', onclick: () => room.host.deny(p.id).catch(fail('deny')) }),
              h('button.btn.btn-primary.btn-sm', { type: 'button', 'data-testid': 'lobby-admit', text: 'Admit', onclick: () => room.host.admit(p.id).catch(fail('admit')) }))));
        }
        body.append(h('h3.section-title', { text: `Waiting to join (${room.lobby.size})` }), waiting);
      }
    }

    const everyone = [me, ...room.participants.values()];
    const order = new Map(everyone.map((p, i) => [p.id, i]));
    everyone.sort((a, b) => (Number(!!b.hand) - Number(!!a.hand)) || (a === me ? -1 : b === me ? 1 : 0) ||
      (Number(!!b.host) - Number(!!a.host)) || (order.get(a.id) - order.get(b.id)));
    const tracks = opts.getTracks();
    const micMuted = (p) => {
      if (p === me) return opts.isLocalMicMuted();
      const mic = tracks.find((t) => t.participant && t.participant.id === p.id && t.source === 'microphone');
      return !mic || mic.muted;
    };
    title.textContent = `People (${everyone.length})`;
    const list = h('ul.people-list', { 'aria-label': 'In the meeting' });
    for (const p of everyone) {
      const badges = h('span.person-badges');
      if (p.hand) badges.appendChild(h('span.badge.badge-hand', { title: 'Hand raised' }, icon('hand', { size: 14 }), h('span', { text: 'Hand' })));
      if (p.host) badges.appendChild(h('span.badge', { text: 'Host' }));
      const actions = h('span.person-actions');
      const muted = micMuted(p);
      if (isHost && p !== me && !muted) {
        actions.appendChild(h('button.icon-btn.icon-btn-sm', {
          type: 'button', 'data-testid': 'host-mute', 'aria-label': `Mute ${p.name}`, title: `Mute ${p.name} (microphone and camera)`,
          onclick: () => room.host.mute(p.id).then(() => toast(`${p.name} was muted`)).catch(fail('mute')),
        }, icon('mic', { size: 18 })));
      } else if (muted) {
        actions.appendChild(h('span.person-mic', { title: 'Microphone off' }, icon('micOff', { size: 18, label: 'Microphone off' })));
      } else {
        actions.appendChild(h('span.person-mic.on', { title: 'Microphone on' }, icon('mic', { size: 18, label: 'Microphone on' })));
      }
      if (isHost && p !== me) {
        actions.appendChild(h('button.icon-btn.icon-btn-sm.danger', {
          type: 'button', 'data-testid': 'host-remove', 'aria-label': `Remove ${p.name} from the meeting`, title: `Remove ${p.name}`,
          onclick: () => {
            if (window.confirm(`Remove ${p.name} from the meeting?`)) room.host.remove(p.id).catch(fail('remove'));
          },
        }, icon('remove', { size: 18 })));
      }
      list.appendChild(h('li.person', { 'data-testid': 'participant-item', 'data-participant': p.id },
        h('div.avatar.avatar-sm', { style: { background: avatarColor(p.id) }, text: initials(p.name), 'aria-hidden': 'true' }),
        h('span.person-main', null, h('span.person-name', { text: p === me ? `${p.name} (You)` : p.name }), badges),
        actions));
    }
    body.append(h('h3.section-title', { text: 'In the meeting' }), list);
    if (focusedTestId) {
      const sel = focusedPid ? `[data-participant="${CSS.escape(focusedPid)}"] [data-testid="${focusedTestId}"]` : `[data-testid="${focusedTestId}"]`;
      el.querySelector(sel)?.focus();
    }
  }

  return {
    el,
    render,
    focus() {
      closeBtn.focus();
    },
  };
}

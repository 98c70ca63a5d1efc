// Settings dialog: switch microphone, camera and speakers during a call.
import { h, icon, clear } from './ui.js';
import { listDevices } from './media.js';

/**
 * @param {{getCurrent: () => {audioId?: string, videoId?: string, sinkId?: string},
 *   onAudio: (id: string) => void, onVideo: (id: string) => void, onSink: (id: string) => void}} opts
 */
export function createSettings(opts) {
  const mic = h('select.select', { id: 'set-mic', 'data-testid': 'settings-mic' });
  const cam = h('select.select', { id: 'set-cam', 'data-testid': 'settings-cam' });
  const spk = h('select.select', { id: 'set-spk', 'data-testid': 'settings-speaker' });
  const spkRow = h('div.field', null, h('label.field-label', { for: 'set-spk' }, icon('volume', { size: 16 }), ' Speakers'), spk);
  const closeBtn = h('button.icon-btn', { type: 'button', 'aria-label': 'Close settings', title: 'Close', onclick: () => close() }, icon('close', { size: 20 }));
  const el = h('dialog.dialog', { 'aria-labelledby': 'settings-title', 'data-testid': 'settings-dialog' },
    h('div.panel-head', null, h('h2', { id: 'settings-title', text: 'Settings' }), closeBtn),
    h('div.dialog-body', null,
      h('div.field', null, h('label.field-label', { for: 'set-mic' }, icon('mic', { size: 16 }), ' Microphone'), mic),
      h('div.field', null, h('label.field-label', { for: 'set-cam' }, icon('cam', { size: 16 }), ' Camera'), cam),
      spkRow,
      h('p.muted.small', { text: 'Keyboard: m mutes the microphone, v turns the camera on or off, h raises your hand, c opens chat, p shows people, l switches layout.' })),
    h('div.dialog-foot', null, h('button.btn.btn-primary', { type: 'button', text: 'Done', onclick: () => close() })));

  const fill = (sel, list, current, label) => {
    clear(sel);
    if (!list.length) {
      sel.appendChild(h('option', { value: '', text: `No ${label} found` }));
      sel.disabled = true;
      return;
    }
    sel.disabled = false;
    list.forEach((d, i) => sel.appendChild(h('option', { value: d.deviceId, text: d.label || `${label} ${i + 1}` })));
    if (current && list.some((d) => d.deviceId === current)) sel.value = current;
  };

  mic.addEventListener('change', () => opts.onAudio(mic.value));
  cam.addEventListener('change', () => opts.onVideo(cam.value));
  spk.addEventListener('change', () => opts.onSink(spk.value));

  async function open() {
    const devs = await listDevices();
    const cur = opts.getCurrent();
    fill(mic, devs.audioinput, cur.audioId, 'microphone');
    fill(cam, devs.videoinput, cur.videoId, 'camera');
    const canSink = 'setSinkId' in HTMLMediaElement.prototype;
    spkRow.hidden = !canSink || !devs.audiooutput.length;
    if (canSink) fill(spk, devs.audiooutput, cur.sinkId || 'default', 'speaker');
    if (!el.open) {
      if (el.showModal) el.showModal();
      else el.setAttribute('open', '');
    }
    mic.focus();
  }

  function close() {
    if (el.open) {
      if (el.close) el.close();
      else el.removeAttribute('open');
    }
  }

  el.addEventListener('click', (ev) => {
    if (ev.target === el) close();
  });

  return { el, open, close };
}

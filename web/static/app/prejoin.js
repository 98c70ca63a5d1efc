// Pre-join screen: name, device pickers, live preview, microphone level, join muted / camera off.
import { h, icon, logo, clear, initials, avatarColor } from './ui.js';
import { getMedia, getTrack, listDevices, levelMeter, mediaProblemText, store, stopStream } from './media.js';

/**
 * @param {HTMLElement} root
 * @param {{roomId: string, initial?: {micOn?: boolean, camOn?: boolean}, message?: string,
 *   onJoin: (choice: {name: string, stream: MediaStream, micOn: boolean, camOn: boolean,
 *                      audioId?: string, videoId?: string}) => Promise<void>,
 *   navigate: Function}} opts
 */
export function renderPrejoin(root, opts) {
  let destroyed = false;
  let stream = new MediaStream();
  let micOn = opts.initial?.micOn ?? store.get('sb.micOn') !== '0';
  let camOn = opts.initial?.camOn ?? store.get('sb.camOn') !== '0';
  let audioId = store.get('sb.audioId') || undefined;
  let videoId = store.get('sb.videoId') || undefined;
  let stopMeter = () => {};
  let handedOver = false;

  const video = h('video.preview-video.mirror', { autoplay: true, muted: true, playsinline: true, 'prop:muted': true, 'aria-label': 'Your camera preview' });
  const avatar = h('div.avatar.avatar-xl', { 'aria-hidden': 'true' });
  const camOffText = h('p.preview-off', { text: 'Camera is off' });
  const meterFill = h('div.meter-fill');
  const meter = h('div.meter', { 'aria-hidden': 'true', title: 'Microphone level' }, meterFill);
  const micBtn = h('button.round-btn', { type: 'button', 'data-testid': 'prejoin-mic' });
  const camBtn = h('button.round-btn', { type: 'button', 'data-testid': 'prejoin-cam' });
  const mediaMsg = h('p.media-message', { role: 'status', hidden: true });
  const micSelect = h('select.select', { id: 'pj-mic', 'data-testid': 'mic-select' });
  const camSelect = h('select.select', { id: 'pj-cam', 'data-testid': 'cam-select' });
  const nameInput = h('input.input', {
    id: 'pj-name', type: 'text', maxlength: '64', autocomplete: 'name', required: true,
    placeholder: 'Your name', 'data-testid': 'join-name',
  });
  nameInput.value = store.get('sb.name') || '';
  const error = h('p.form-error', { 'data-testid': 'error-message', role: 'alert', hidden: !opts.message });
  if (opts.message) error.textContent = opts.message;
  const joinBtn = h('button.btn.btn-primary.btn-lg.join-btn', { type: 'submit', 'data-testid': 'join-button' }, h('span', { text: 'Join now' }));

  const preview = h('div.preview', null,
    video, h('div.preview-placeholder', null, avatar, camOffText),
    h('div.preview-name', { 'aria-hidden': 'true' }),
    h('div.preview-controls', null, micBtn, camBtn),
    meter);

  const updateAvatar = () => {
    const n = nameInput.value.trim();
    avatar.textContent = initials(n || '?');
    avatar.style.background = avatarColor(n || '?');
    preview.querySelector('.preview-name').textContent = n;
  };

  const updateButtons = () => {
    const hasAudio = stream.getAudioTracks().length > 0;
    const hasVideo = stream.getVideoTracks().length > 0;
    micBtn.classList.toggle('off', !micOn || !hasAudio);
    camBtn.classList.toggle('off', !camOn || !hasVideo);
    clear(micBtn).appendChild(icon(micOn && hasAudio ? 'mic' : 'micOff'));
    clear(camBtn).appendChild(icon(camOn && hasVideo ? 'cam' : 'camOff'));
    micBtn.setAttribute('aria-pressed', String(!micOn));
    camBtn.setAttribute('aria-pressed', String(!camOn));
    micBtn.setAttribute('aria-label', micOn ? 'Join with microphone off' : 'Join with microphone on');
    camBtn.setAttribute('aria-label', camOn ? 'Join with camera off' : 'Join with camera on');
    micBtn.title = micBtn.getAttribute('aria-label');
    camBtn.title = camBtn.getAttribute('aria-label');
    micBtn.disabled = !hasAudio && !micOn;
    preview.classList.toggle('cam-off', !camOn || !hasVideo);
    meter.hidden = !micOn || !hasAudio;
    for (const t of stream.getAudioTracks()) t.enabled = micOn;
  };

  let blocked = false;
  const fillSelect = (sel, list, current, label) => {
    clear(sel);
    if (!list.length) {
      sel.appendChild(h('option', { value: '', text: blocked ? `Allow ${label} access first` : `No ${label} found` }));
      sel.disabled = true;
      return;
    }
    sel.disabled = false;
    list.forEach((d, i) => {
      const o = h('option', { value: d.deviceId, text: d.label || `${label[0].toUpperCase()}${label.slice(1)} ${i + 1}` });
      sel.appendChild(o);
    });
    if (current && list.some((d) => d.deviceId === current)) sel.value = current;
  };

  const refreshDevices = async () => {
    const devs = await listDevices();
    if (destroyed) return;
    const at = stream.getAudioTracks()[0];
    const vt = stream.getVideoTracks()[0];
    fillSelect(micSelect, devs.audioinput, at?.getSettings().deviceId || audioId, 'microphone');
    fillSelect(camSelect, devs.videoinput, vt?.getSettings().deviceId || videoId, 'camera');
  };

  const attachStream = () => {
    video.srcObject = stream.getVideoTracks().length ? stream : null;
    if (video.srcObject) video.play().catch(() => {});
    stopMeter();
    const at = stream.getAudioTracks()[0];
    stopMeter = at ? levelMeter(at, (lvl) => { meterFill.style.transform = `scaleX(${lvl.toFixed(3)})`; }) : () => {};
    updateButtons();
  };

  const showMediaProblem = (res) => {
    blocked = res.problem === 'denied';
    const text = res.problem ? mediaProblemText(res.problem, res) : '';
    mediaMsg.textContent = text;
    mediaMsg.hidden = !text;
  };

  const start = async () => {
    const res = await getMedia({ audio: true, video: camOn, audioId, videoId });
    if (destroyed) {
      stopStream(res.stream);
      return;
    }
    stream = res.stream;
    showMediaProblem(res);
    attachStream();
    refreshDevices();
  };

  micBtn.addEventListener('click', () => {
    micOn = !micOn;
    store.set('sb.micOn', micOn ? '1' : '0');
    updateButtons();
  });

  camBtn.addEventListener('click', async () => {
    camOn = !camOn;
    store.set('sb.camOn', camOn ? '1' : '0');
    if (!camOn) {
      for (const t of stream.getVideoTracks()) {
        t.stop();
        stream.removeTrack(t);
      }
      attachStream();
      return;
    }
    updateButtons();
    try {
      const t = await getTrack('video', videoId);
      if (destroyed || !camOn) { t.stop(); return; }
      stream.addTrack(t);
      mediaMsg.hidden = true;
    } catch (err) {
      camOn = false;
      showMediaProblem({ problem: err.name === 'NotAllowedError' ? 'denied' : 'notfound', videoFailed: true });
    }
    attachStream();
    refreshDevices();
  });

  micSelect.addEventListener('change', async () => {
    audioId = micSelect.value || undefined;
    store.set('sb.audioId', audioId);
    try {
      const t = await getTrack('audio', audioId);
      for (const old of stream.getAudioTracks()) { old.stop(); stream.removeTrack(old); }
      stream.addTrack(t);
      attachStream();
    } catch (err) {
      showMediaProblem({ problem: 'other', audioFailed: true });
    }
  });

  camSelect.addEventListener('change', async () => {
    videoId = camSelect.value || undefined;
    store.set('sb.videoId', videoId);
    if (!camOn) return;
    try {
      const t = await getTrack('video', videoId);
      for (const old of stream.getVideoTracks()) { old.stop(); stream.removeTrack(old); }
      stream.addTrack(t);
      attachStream();
    } catch (err) {
      showMediaProblem({ problem: 'other', videoFailed: true });
    }
  });

  nameInput.addEventListener('input', () => {
    updateAvatar();
    error.hidden = true;
  });

  const form = h('form.join-panel', {
    onsubmit: async (ev) => {
      ev.preventDefault();
      const name = nameInput.value.trim();
      if (!name) {
        error.textContent = 'Enter your name so others know who you are.';
        error.hidden = false;
        nameInput.focus();
        return;
      }
      store.set('sb.name', name);
      error.hidden = true;
      joinBtn.disabled = true;
      joinBtn.classList.add('busy');
      joinBtn.firstChild.textContent = 'Joining…';
      handedOver = true;
      try {
        // Joining before the camera/microphone answered would join without them.
        await mediaReady;
        if (destroyed) return;
        await opts.onJoin({ name, stream, micOn, camOn: camOn && stream.getVideoTracks().length > 0, audioId, videoId });
      } finally {
        if (!destroyed) {
          handedOver = false;
          joinBtn.disabled = false;
          joinBtn.classList.remove('busy');
          joinBtn.firstChild.textContent = 'Join now';
        }
      }
    },
  },
  h('h1', { text: 'Ready to join?' }),
  h('p.muted', null, 'Meeting ', h('code.room-code', { text: opts.roomId })),
  h('label.field-label', { for: 'pj-name', text: 'Your name' }),
  nameInput,
  error,
  joinBtn,
  h('button.btn.btn-text.home-link', { type: 'button', text: 'Back to home', onclick: () => opts.navigate('/') }));

  const page = h('div.prejoin-page', null,
    h('header.topbar', null, h('a.brand', { href: '/', 'aria-label': 'Switchboard home' }, logo(28), h('span.brand-name', { text: 'Switchboard' }))),
    h('main.prejoin', { id: 'main' },
      h('section.preview-col', { 'aria-label': 'Camera and microphone' },
        preview,
        mediaMsg,
        h('div.device-row', null,
          h('div.device', null, h('label.field-label', { for: 'pj-mic' }, icon('mic', { size: 16 }), ' Microphone'), micSelect),
          h('div.device', null, h('label.field-label', { for: 'pj-cam' }, icon('cam', { size: 16 }), ' Camera'), camSelect))),
      form));
  root.appendChild(page);
  updateAvatar();
  updateButtons();
  const mediaReady = start();
  if (!nameInput.value) nameInput.focus();
  else joinBtn.focus();

  const onDeviceChange = () => refreshDevices();
  navigator.mediaDevices?.addEventListener?.('devicechange', onDeviceChange);

  return {
    /** Shows an error (e.g. room full) and re-enables the form. */
    showError(text) {
      error.textContent = text;
      error.hidden = !text;
    },
    /** Takes ownership of the stream away from this screen (the call uses it). */
    handOver() {
      handedOver = true;
    },
    destroy() {
      destroyed = true;
      stopMeter();
      navigator.mediaDevices?.removeEventListener?.('devicechange', onDeviceChange);
      if (!handedOver) stopStream(stream);
    },
  };
}

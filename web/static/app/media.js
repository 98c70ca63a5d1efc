// Local media helpers: getUserMedia with graceful fallbacks, device lists, a microphone level meter.

export const VIDEO_CONSTRAINTS = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };

const store = {
  get(k) {
    try { return localStorage.getItem(k); } catch { return null; }
  },
  set(k, v) {
    try {
      if (v === null || v === undefined || v === '') localStorage.removeItem(k);
      else localStorage.setItem(k, v);
    } catch { /* private mode */ }
  },
};
export { store };

/** @param {string|undefined} id */
function audioC(id) {
  return id ? { deviceId: { exact: id }, echoCancellation: true, noiseSuppression: true } : { echoCancellation: true, noiseSuppression: true };
}
/** @param {string|undefined} id */
function videoC(id) {
  return id ? { ...VIDEO_CONSTRAINTS, deviceId: { exact: id } } : { ...VIDEO_CONSTRAINTS };
}

/**
 * Gets microphone and/or camera. Never throws: returns the stream it could get and the problem, if any.
 * @param {{audio: boolean, video: boolean, audioId?: string, videoId?: string}} want
 * @returns {Promise<{stream: MediaStream, problem: null|'denied'|'notfound'|'inuse'|'unsupported'|'other', audioFailed: boolean, videoFailed: boolean}>}
 */
export async function getMedia(want) {
  const stream = new MediaStream();
  const out = { stream, problem: null, audioFailed: false, videoFailed: false };
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    out.problem = 'unsupported';
    out.audioFailed = want.audio;
    out.videoFailed = want.video;
    return out;
  }
  const attempt = async (c) => navigator.mediaDevices.getUserMedia(c);
  const classify = (err) => {
    const n = err && err.name;
    if (n === 'NotAllowedError' || n === 'SecurityError') return 'denied';
    if (n === 'NotFoundError' || n === 'OverconstrainedError') return 'notfound';
    if (n === 'NotReadableError' || n === 'AbortError') return 'inuse';
    return 'other';
  };
  if (!want.audio && !want.video) return out;
  try {
    const s = await attempt({
      audio: want.audio ? audioC(want.audioId) : false,
      video: want.video ? videoC(want.videoId) : false,
    });
    s.getTracks().forEach((t) => stream.addTrack(t));
    return out;
  } catch (err) {
    // Try each kind alone: one may work (e.g. no camera, or a stale device id).
    if (want.audio) {
      try {
        const s = await attempt({ audio: audioC(undefined) });
        s.getTracks().forEach((t) => stream.addTrack(t));
      } catch (e) {
        out.audioFailed = true;
        out.problem = classify(e);
      }
    }
    if (want.video) {
      try {
        const s = await attempt({ video: videoC(undefined) });
        s.getTracks().forEach((t) => stream.addTrack(t));
      } catch (e) {
        out.videoFailed = true;
        out.problem = out.problem || classify(e);
      }
    }
    if (!out.problem && !out.audioFailed && !out.videoFailed) out.problem = null;
    if (!out.problem && (out.audioFailed || out.videoFailed)) out.problem = classify(err);
    return out;
  }
}

/** Gets one track of a kind from a device. Throws on failure. */
export async function getTrack(kind, deviceId) {
  const s = await navigator.mediaDevices.getUserMedia(kind === 'audio' ? { audio: audioC(deviceId) } : { video: videoC(deviceId) });
  return kind === 'audio' ? s.getAudioTracks()[0] : s.getVideoTracks()[0];
}

/** @returns {Promise<{audioinput: MediaDeviceInfo[], videoinput: MediaDeviceInfo[], audiooutput: MediaDeviceInfo[]}>} */
export async function listDevices() {
  const out = { audioinput: [], videoinput: [], audiooutput: [] };
  try {
    const list = await navigator.mediaDevices.enumerateDevices();
    for (const d of list) if (out[d.kind] && d.deviceId) out[d.kind].push(d);
  } catch { /* unsupported */ }
  return out;
}

/** Human message for a media problem. */
export function mediaProblemText(problem, { audioFailed, videoFailed } = {}) {
  const what = audioFailed && videoFailed ? 'camera and microphone' : videoFailed ? 'camera' : audioFailed ? 'microphone' : 'camera and microphone';
  switch (problem) {
    case 'denied':
      return `Your browser is blocking the ${what}. Allow access from the address bar, then reload — or join without them.`;
    case 'notfound':
      return `No ${what} found. You can still join and use chat.`;
    case 'inuse':
      return `Your ${what} is in use by another application. Close it and try again, or join without.`;
    case 'unsupported':
      return 'This browser cannot use a camera or microphone here (a secure https:// connection is required). You can still join and use chat.';
    case 'other':
      return `Could not start the ${what}.`;
    default:
      return '';
  }
}

/**
 * Drives a level meter from an audio track: calls onLevel(0..1) about 20 times a second.
 * @returns {() => void} stop
 */
export function levelMeter(track, onLevel) {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx || !track) return () => {};
  const ctx = new Ctx();
  const src = ctx.createMediaStreamSource(new MediaStream([track]));
  const an = ctx.createAnalyser();
  an.fftSize = 512;
  an.smoothingTimeConstant = 0.5;
  src.connect(an);
  const buf = new Float32Array(an.fftSize);
  let level = 0;
  const resume = () => ctx.state === 'suspended' && ctx.resume().catch(() => {});
  resume();
  document.addEventListener('pointerdown', resume, { once: true });
  const timer = setInterval(() => {
    an.getFloatTimeDomainData(buf);
    let sum = 0;
    for (let i = 0; i < buf.length; i++) sum += buf[i] * buf[i];
    const rms = Math.sqrt(sum / buf.length);
    const v = track.enabled ? Math.min(1, rms * 4) : 0;
    level = Math.max(v, level * 0.8);
    onLevel(level);
  }, 50);
  return () => {
    clearInterval(timer);
    document.removeEventListener('pointerdown', resume);
    try { src.disconnect(); } catch { /* ignore */ }
    ctx.close().catch(() => {});
  };
}

/** Stops every track of a stream. */
export function stopStream(stream) {
  if (stream) stream.getTracks().forEach((t) => t.stop());
}

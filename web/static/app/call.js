// The in-call screen: video grid / speaker layout, toolbar, side panels, notifications.
import { h, icon, clear, initials, avatarColor, toast, copyText, isTyping, formatTime } from './ui.js';
import { getTrack, store, stopStream } from './media.js';
import { createChat } from './chat.js';
import { createPeople } from './people.js';
import { createSettings } from './settings.js';
import { dialInLine, showDialProgress } from './phones.js';

const LAYOUT_KEY = 'sb.layout';

/**
 * Picks the number of grid columns that makes 16:9 tiles as large as possible.
 * @returns {{cols:number, rows:number}}
 */
export function bestGrid(n, width, height, gap = 8, aspect = 16 / 9) {
  n = Math.max(1, n);
  let best = { cols: 1, rows: n, w: 0, h: 0 };
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    const cw = (width - gap * (cols - 1)) / cols;
    const ch = (height - gap * (rows - 1)) / rows;
    const w = Math.min(cw, ch * aspect);
    if (w > best.w) best = { cols, rows, w, h: w / aspect };
  }
  return { cols: best.cols, rows: best.rows, w: Math.floor(best.w), h: Math.floor(best.h) };
}

/** The layout bucket for a tile count (used as data-layout). */
export function layoutBucket(n) {
  if (n <= 1) return 'one';
  if (n === 2) return 'two';
  if (n <= 4) return 'four';
  if (n <= 9) return 'nine';
  return 'many';
}

/**
 * @param {HTMLElement} root
 * @param {{room: import('/sdk/switchboard.js').Room, stream: MediaStream, micOn: boolean, camOn: boolean,
 *   audioId?: string, videoId?: string, roomId: string, onEnd: (reason: string) => void,
 *   title?: string, private?: boolean, headerActions?: HTMLElement[]}} opts
 *   `title` replaces the room code in the header; `private` (a call between people) hides the meeting
 *   link; `headerActions` are added to the header.
 */
export function renderCall(root, opts) {
  const { room } = opts;
  window.__sb = { room };
  const local = {
    stream: opts.stream || new MediaStream(),
    micOn: opts.micOn,
    camOn: opts.camOn,
    audioId: opts.audioId,
    videoId: opts.videoId,
    sinkId: store.get('sb.sinkId') || '',
    hand: false,
    stats: null,
  };
  // Only keep a camera track if the camera is on.
  if (!local.camOn) for (const t of local.stream.getVideoTracks()) { t.stop(); local.stream.removeTrack(t); }
  for (const t of local.stream.getAudioTracks()) t.enabled = local.micOn;

  let layout = store.get(LAYOUT_KEY) === 'speaker' ? 'speaker' : 'grid';
  let speakers = new Set();
  let lastSpeaker = null;
  let quality = {};
  let ended = false;
  let panel = null; // 'chat' | 'people' | null
  let renderQueued = false;
  const offs = [];
  const timers = [];
  /** @type {Map<string, any>} */
  const tiles = new Map();
  /** @type {Map<string, {el: HTMLAudioElement, detach: Function}>} */
  const audios = new Map();
  const lobbyCards = new Map();

  // ------------------------------------------------------------------ structure
  const roomLink = `${location.origin}/m/${opts.roomId}`;
  const stage = h('div.stage', { 'aria-label': 'Meeting participants' });
  const mainArea = h('div.stage-main');
  const strip = h('div.stage-strip', { 'aria-label': 'Other participants' });
  stage.append(mainArea, strip);
  const audioBox = h('div.audio-sinks', { hidden: true });
  const banner = h('div.reconnecting-banner', { 'data-testid': 'reconnecting-banner', role: 'status', 'aria-live': 'assertive', hidden: true },
    h('span.spinner.spinner-sm', { 'aria-hidden': 'true' }), h('span', { text: 'Reconnecting…' }));
  const knocks = h('div.knocks', { 'aria-live': 'polite' });
  let aloneDismissed = false;
  const alone = opts.private ? h('div.alone-card', { hidden: true, 'data-testid': 'alone-card' },
    h('div.alone-head', null,
      h('h2', { text: 'Waiting for the others to join…' }),
      h('button.icon-btn.icon-btn-sm', {
        type: 'button', 'aria-label': 'Dismiss', title: 'Dismiss',
        onclick: () => { aloneDismissed = true; alone.hidden = true; },
      }, icon('close', { size: 18 })))) : h('div.alone-card', { hidden: true, 'data-testid': 'alone-card' },
    h('div.alone-head', null,
      h('h2', { text: 'You’re the only one here' }),
      h('button.icon-btn.icon-btn-sm', {
        type: 'button', 'aria-label': 'Dismiss', title: 'Dismiss',
        onclick: () => { aloneDismissed = true; alone.hidden = true; },
      }, icon('close', { size: 18 }))),
    h('p.muted', { text: 'Share this link with people you want in the meeting' }),
    h('div.alone-link', null, h('span.alone-url', { text: roomLink }),
      h('button.icon-btn', { type: 'button', 'aria-label': 'Copy meeting link', title: 'Copy meeting link', 'data-testid': 'invite-copy', onclick: () => copyLink() }, icon('copy', { size: 20 }))),
    dialInLine(room));
  const lockBadge = h('span.lock-badge', { title: 'The meeting is locked', hidden: true }, icon('lock', { size: 16, label: 'Locked' }));
  const clock = h('span.clock');
  const header = h('header.call-header', null,
    h('div.call-title', null, lockBadge, h(opts.title ? 'span.call-name' : 'span.call-code', { text: opts.title || opts.roomId })),
    h('div.call-header-actions', null, opts.headerActions || null,
      opts.private ? null : h('button.chip-btn', { type: 'button', 'data-testid': 'copy-link', title: 'Copy the meeting link', onclick: () => copyLink() },
        icon('link', { size: 18 }), h('span', { text: 'Copy link' }))));

  const chat = createChat(room, {
    onUnread: (n) => setBadge(chatBtn, n, 'Chat'),
    onClose: () => togglePanel(null),
    isOpen: () => panel === 'chat',
  });
  const people = createPeople(room, {
    onClose: () => togglePanel(null),
    getTracks: () => room.tracks,
    isLocalMicMuted: () => !local.micOn || !local.stream.getAudioTracks().length,
  });
  const settings = createSettings({
    getCurrent: () => ({
      audioId: local.stream.getAudioTracks()[0]?.getSettings().deviceId || local.audioId,
      videoId: local.stream.getVideoTracks()[0]?.getSettings().deviceId || local.videoId,
      sinkId: local.sinkId,
    }),
    onAudio: (id) => switchDevice('audio', id),
    onVideo: (id) => switchDevice('video', id),
    onSink: (id) => setSink(id),
  });

  const sidePanel = h('aside.side-panel', { hidden: true });

  // Toolbar buttons.
  const tb = (cls, testid, onclick, extra = {}) => h(`button.tb-btn${cls}`, { type: 'button', 'data-testid': testid, onclick, ...extra });
  const micBtn = tb('', 'mic-toggle', () => toggleMic());
  const camBtn = tb('', 'cam-toggle', () => toggleCam());
  const shareBtn = tb('', 'share-screen', () => toggleShare());
  const handBtn = tb('', 'raise-hand', () => toggleHand());
  const layoutBtn = tb('.tb-layout', 'layout-toggle', () => toggleLayout());
  const settingsBtn = tb('', 'settings', () => settings.open(), { 'aria-label': 'Settings', title: 'Settings: camera, microphone, speakers' });
  settingsBtn.appendChild(icon('settings'));
  const leaveBtn = tb('.tb-leave', 'leave', () => leave(), { 'aria-label': 'Leave call', title: 'Leave call' });
  leaveBtn.appendChild(icon('callEnd'));
  const chatBtn = tb('.tb-side', 'chat-toggle', () => togglePanel('chat'), { 'aria-controls': 'side-panel' });
  chatBtn.appendChild(icon('chat'));
  const peopleBtn = tb('.tb-side', 'people-toggle', () => togglePanel('people'), { 'aria-controls': 'side-panel' });
  peopleBtn.appendChild(icon('people'));
  const peopleCount = h('span.count-badge', { 'aria-hidden': 'true' });
  peopleBtn.appendChild(peopleCount);
  sidePanel.id = 'side-panel';
  if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) shareBtn.hidden = true;

  const toolbar = h('footer.toolbar', { 'aria-label': 'Call controls' },
    h('div.tb-left', null, clock, h('span.tb-sep', { 'aria-hidden': 'true', text: '|' }), h(opts.title ? 'span.tb-code.tb-title' : 'span.tb-code', { text: opts.title || opts.roomId })),
    h('div.tb-center', { role: 'toolbar', 'aria-label': 'Meeting controls' }, micBtn, camBtn, shareBtn, handBtn, layoutBtn, settingsBtn, leaveBtn),
    h('div.tb-right', null, peopleBtn, chatBtn));

  const page = h('div.call', { 'data-testid': 'call' },
    header,
    h('main.call-body', { id: 'main' }, h('div.stage-wrap', null, stage, alone), sidePanel),
    toolbar, banner, knocks, audioBox, settings.el);
  root.appendChild(page);

  // ------------------------------------------------------------------ helpers
  function copyLink() {
    copyText(roomLink).then((ok) => toast(ok ? 'Meeting link copied' : `Meeting link: ${roomLink}`));
  }

  function setBadge(btn, n, label) {
    let b = btn.querySelector('.unread-badge');
    if (n > 0) {
      if (!b) {
        b = h('span.unread-badge', { 'data-testid': 'unread-badge' });
        btn.appendChild(b);
      }
      b.textContent = n > 99 ? '99+' : String(n);
      btn.setAttribute('aria-label', `${label}, ${n} unread`);
    } else {
      b?.remove();
      btn.setAttribute('aria-label', label === 'Chat' ? (panel === 'chat' ? 'Close chat' : 'Open chat (c)') : label);
    }
  }

  function updateToolbar() {
    const hasMic = local.stream.getAudioTracks().length > 0;
    const micLive = local.micOn && hasMic;
    clear(micBtn).appendChild(icon(micLive ? 'mic' : 'micOff'));
    micBtn.classList.toggle('off', !micLive);
    micBtn.setAttribute('aria-pressed', String(!micLive));
    micBtn.setAttribute('aria-label', micLive ? 'Turn off microphone' : 'Turn on microphone');
    micBtn.title = `${micLive ? 'Turn off microphone' : 'Turn on microphone'} (m)`;

    const camLive = local.camOn && local.stream.getVideoTracks().length > 0;
    clear(camBtn).appendChild(icon(camLive ? 'cam' : 'camOff'));
    camBtn.classList.toggle('off', !camLive);
    camBtn.setAttribute('aria-pressed', String(!camLive));
    camBtn.setAttribute('aria-label', camLive ? 'Turn off camera' : 'Turn on camera');
    camBtn.title = `${camLive ? 'Turn off camera' : 'Turn on camera'} (v)`;

    const sharing = room.sharingScreen;
    clear(shareBtn).appendChild(icon(sharing ? 'shareStop' : 'share'));
    shareBtn.classList.toggle('active', sharing);
    shareBtn.setAttribute('aria-pressed', String(sharing));
    shareBtn.setAttribute('aria-label', sharing ? 'Stop presenting' : 'Present your screen');
    shareBtn.title = sharing ? 'Stop presenting' : 'Present your screen';

    clear(handBtn).appendChild(icon('hand'));
    handBtn.classList.toggle('active', local.hand);
    handBtn.setAttribute('aria-pressed', String(local.hand));
    handBtn.setAttribute('aria-label', local.hand ? 'Lower hand' : 'Raise hand');
    handBtn.title = `${local.hand ? 'Lower hand' : 'Raise hand'} (h)`;

    clear(layoutBtn).appendChild(icon(layout === 'grid' ? 'speaker' : 'grid'));
    layoutBtn.setAttribute('aria-label', layout === 'grid' ? 'Switch to speaker layout' : 'Switch to grid layout');
    layoutBtn.title = `${layoutBtn.getAttribute('aria-label')} (l)`;

    chatBtn.classList.toggle('active', panel === 'chat');
    chatBtn.setAttribute('aria-expanded', String(panel === 'chat'));
    chatBtn.title = 'Chat with everyone (c)';
    if (!chatBtn.querySelector('.unread-badge')) chatBtn.setAttribute('aria-label', panel === 'chat' ? 'Close chat' : 'Open chat (c)');
    peopleBtn.classList.toggle('active', panel === 'people');
    peopleBtn.setAttribute('aria-expanded', String(panel === 'people'));
    peopleBtn.setAttribute('aria-label', `${panel === 'people' ? 'Close' : 'Show'} participants (${room.participants.size + 1})`);
    peopleBtn.title = 'Show everyone (p)';
    peopleCount.textContent = String(room.participants.size + 1);
    lockBadge.hidden = !(room.info && room.info.locked);
  }

  // ------------------------------------------------------------------ actions
  async function toggleMic() {
    const t = local.stream.getAudioTracks()[0];
    if (!t) {
      try {
        const nt = await getTrack('audio', local.audioId);
        local.stream.addTrack(nt);
        local.micOn = true;
        await room.replaceTrack('microphone', nt);
        await room.setMuted('microphone', false);
      } catch (err) {
        toast(err.name === 'NotAllowedError' ? 'Microphone access is blocked by your browser.' : 'Could not start the microphone.', { kind: 'error' });
      }
      updateAll();
      return;
    }
    local.micOn = !local.micOn;
    t.enabled = local.micOn;
    updateAll();
    try {
      await room.setMuted('microphone', !local.micOn);
    } catch (err) {
      if (err.code !== 'disconnected') console.warn('mute failed', err);
    }
  }

  async function toggleCam() {
    if (local.camOn) {
      local.camOn = false;
      const old = local.stream.getVideoTracks();
      updateAll();
      try {
        await room.setMuted('camera', true);
        await room.replaceTrack('camera', null);
      } catch (err) {
        console.warn('camera off', err);
      }
      for (const t of old) { t.stop(); local.stream.removeTrack(t); }
      updateAll();
      return;
    }
    camBtn.disabled = true;
    try {
      const t = await getTrack('video', local.videoId);
      for (const o of local.stream.getVideoTracks()) { o.stop(); local.stream.removeTrack(o); }
      local.stream.addTrack(t);
      local.camOn = true;
      updateAll();
      await room.replaceTrack('camera', t);
      await room.setMuted('camera', false);
    } catch (err) {
      toast(err.name === 'NotAllowedError' ? 'Camera access is blocked by your browser.'
        : err.name ? 'Could not start the camera.' : `Camera: ${err.message}`, { kind: 'error' });
    } finally {
      camBtn.disabled = false;
      updateAll();
    }
  }

  async function toggleShare() {
    if (room.sharingScreen) {
      await room.stopScreenShare().catch((err) => console.warn(err));
      updateAll();
      return;
    }
    shareBtn.disabled = true;
    try {
      await room.shareScreen();
      toast('You are presenting to everyone');
    } catch (err) {
      if (err.name !== 'NotAllowedError' && err.name !== 'AbortError') {
        toast(`Could not share your screen${err.message ? `: ${err.message}` : ''}`, { kind: 'error' });
      }
    } finally {
      shareBtn.disabled = false;
      updateAll();
    }
  }

  async function toggleHand() {
    const want = !local.hand;
    local.hand = want;
    updateAll();
    try {
      await room.raiseHand(want);
    } catch (err) {
      local.hand = !want;
      updateAll();
      toast('Could not change your hand', { kind: 'error' });
    }
  }

  function toggleLayout() {
    layout = layout === 'grid' ? 'speaker' : 'grid';
    store.set(LAYOUT_KEY, layout);
    updateAll();
  }

  function togglePanel(which) {
    const next = which === panel ? null : which;
    panel = next;
    clear(sidePanel);
    sidePanel.hidden = !next;
    page.classList.toggle('panel-open', !!next);
    if (next === 'chat') {
      sidePanel.setAttribute('aria-label', 'Chat');
      sidePanel.appendChild(chat.el);
      chat.opened();
    } else if (next === 'people') {
      sidePanel.setAttribute('aria-label', 'Participants');
      sidePanel.appendChild(people.el);
      people.render();
      people.focus();
    }
    updateAll();
  }

  async function leave() {
    leaveBtn.disabled = true;
    await room.leave();
  }

  async function switchDevice(kind, id) {
    try {
      const t = await getTrack(kind, id);
      const source = kind === 'audio' ? 'microphone' : 'camera';
      const olds = kind === 'audio' ? local.stream.getAudioTracks() : local.stream.getVideoTracks();
      if (kind === 'audio') {
        local.audioId = id;
        store.set('sb.audioId', id);
        t.enabled = local.micOn;
      } else {
        local.videoId = id;
        store.set('sb.videoId', id);
        if (!local.camOn) { t.stop(); return; }
      }
      await room.replaceTrack(source, t);
      for (const o of olds) { o.stop(); local.stream.removeTrack(o); }
      local.stream.addTrack(t);
      updateAll();
      toast(`${kind === 'audio' ? 'Microphone' : 'Camera'} changed`);
    } catch (err) {
      toast(`Could not switch ${kind === 'audio' ? 'microphone' : 'camera'}`, { kind: 'error' });
    }
  }

  function setSink(id) {
    local.sinkId = id;
    store.set('sb.sinkId', id);
    for (const a of audios.values()) if (a.el.setSinkId) a.el.setSinkId(id).catch(() => {});
  }

  // ------------------------------------------------------------------ tiles
  function qualityBars() {
    const el = h('span.q-bars', { role: 'img', 'aria-label': 'Connection quality unknown' },
      h('i.q1'), h('i.q2'), h('i.q3'));
    return el;
  }

  function setQuality(el, q, detail) {
    el.classList.remove('q-good', 'q-fair', 'q-poor');
    if (q) el.classList.add(`q-${q}`);
    const label = q ? `Connection ${q}${detail ? ` (${detail})` : ''}` : 'Connection quality unknown';
    el.setAttribute('aria-label', label);
    el.title = label;
  }

  function createTile(key, pid, source, isLocal) {
    const video = h('video.tile-video', { autoplay: true, playsinline: true, muted: true, 'prop:muted': true });
    if (isLocal && source === 'camera') video.classList.add('mirror');
    const avatar = h('div.avatar.avatar-lg', { 'aria-hidden': 'true' });
    const name = h('span.tile-name');
    const mic = h('span.tile-mic', { hidden: true }, icon('micOff', { size: 16, label: 'Microphone off' }));
    const hand = h('span.tile-hand', { hidden: true, title: 'Hand raised' }, icon('hand', { size: 18, label: 'Hand raised' }));
    const q = qualityBars();
    const el = h('div.tile', {
      'data-testid': 'video-tile', 'data-participant': pid, 'data-source': source, role: 'group',
      'data-local': isLocal ? 'true' : 'false',
    },
    video,
    h('div.tile-avatar', null, avatar),
    h('div.tile-top', null, hand, q),
    h('div.tile-bottom', null, mic, name));
    if (source === 'screen') el.classList.add('tile-screen');
    el.addEventListener('dblclick', () => {
      if (layout !== 'speaker') toggleLayout();
      lastSpeaker = pid;
      scheduleRender();
    });
    return { key, pid, source, isLocal, el, video, avatar, name, mic, hand, q, track: null, detach: null };
  }

  function tileSpecs() {
    const specs = [];
    const me = room.localParticipant;
    if (!me) return specs;
    const vt = local.camOn ? local.stream.getVideoTracks()[0] : null;
    specs.push({ key: 'local:camera', pid: me.id, p: me, source: 'camera', isLocal: true, track: vt || null, muted: !vt });
    const lt = room.localTracks;
    if (lt.screen && lt.screen.track) {
      specs.push({ key: 'local:screen', pid: me.id, p: me, source: 'screen', isLocal: true, track: lt.screen.track, muted: false });
    }
    const byPid = new Map();
    for (const t of room.tracks) {
      if (!t.participant) continue;
      const m = byPid.get(t.participant.id) || {};
      m[t.source] = t;
      byPid.set(t.participant.id, m);
    }
    for (const p of room.participants.values()) {
      const tr = byPid.get(p.id) || {};
      const cam = tr.camera;
      specs.push({
        key: `${p.id}:camera`, pid: p.id, p, source: 'camera', isLocal: false,
        track: cam && cam.track && !cam.muted ? cam.track : null, trackId: cam?.id, muted: !cam || cam.muted,
      });
      if (tr.screen) {
        specs.push({
          key: `${p.id}:screen`, pid: p.id, p, source: 'screen', isLocal: false,
          track: tr.screen.track && !tr.screen.muted ? tr.screen.track : null, trackId: tr.screen.id, muted: !!tr.screen.muted,
        });
      }
    }
    return specs;
  }

  function micMuted(pid) {
    if (room.localParticipant && pid === room.localParticipant.id) return !local.micOn || !local.stream.getAudioTracks().length;
    const mic = room.tracks.find((t) => t.participant && t.participant.id === pid && t.source === 'microphone');
    return !mic || mic.muted;
  }

  function updateTile(tile, spec) {
    const p = spec.p;
    const label = spec.isLocal ? (spec.source === 'screen' ? 'You are presenting' : `${p.name} (You)`)
      : spec.source === 'screen' ? `${p.name} is presenting` : p.name;
    tile.name.textContent = label;
    tile.el.setAttribute('aria-label', label);
    tile.avatar.textContent = initials(p.name);
    tile.avatar.style.background = avatarColor(p.id);
    if (tile.track !== spec.track) {
      if (tile.detach) tile.detach();
      tile.detach = null;
      if (tile.trackListener && tile.track) {
        tile.track.removeEventListener('mute', tile.trackListener);
        tile.track.removeEventListener('unmute', tile.trackListener);
      }
      tile.track = spec.track;
      if (spec.track) {
        if (spec.isLocal) {
          tile.video.srcObject = new MediaStream([spec.track]);
          tile.video.play().catch(() => {});
          tile.detach = () => { tile.video.srcObject = null; };
        } else {
          try {
            tile.detach = room.attach(spec.track, tile.video);
          } catch {
            tile.video.srcObject = new MediaStream([spec.track]);
          }
          tile.trackListener = () => scheduleRender();
          spec.track.addEventListener('mute', tile.trackListener);
          spec.track.addEventListener('unmute', tile.trackListener);
        }
      } else {
        tile.video.srcObject = null;
      }
    }
    const showVideo = !!spec.track && spec.track.readyState === 'live' && (spec.isLocal || !spec.track.muted);
    tile.el.classList.toggle('no-video', !showVideo);
    const isMicMuted = spec.source === 'camera' && micMuted(spec.pid);
    tile.mic.hidden = !isMicMuted;
    tile.hand.hidden = !(spec.source === 'camera' && p.hand);
    tile.el.classList.toggle('hand-up', spec.source === 'camera' && !!p.hand);
    tile.el.classList.toggle('speaking', spec.source === 'camera' && speakers.has(spec.pid) && !isMicMuted);
    if (spec.isLocal) {
      const s = local.stats;
      setQuality(tile.q, s ? s.quality : null, s ? `${s.rtt !== null ? `${Math.round(s.rtt)} ms round trip, ` : ''}${(s.loss * 100).toFixed(1)}% loss` : '');
    } else {
      setQuality(tile.q, quality[spec.pid] || null);
    }
    tile.q.hidden = spec.source !== 'camera';
  }

  function scheduleRender() {
    if (renderQueued || ended) return;
    renderQueued = true;
    requestAnimationFrame(() => {
      renderQueued = false;
      if (!ended) render();
    });
  }

  function render() {
    const specs = tileSpecs();
    const keep = new Set(specs.map((s) => s.key));
    for (const [key, t] of tiles) {
      if (!keep.has(key)) {
        if (t.detach) t.detach();
        t.el.remove();
        tiles.delete(key);
      }
    }
    for (const s of specs) {
      let t = tiles.get(s.key);
      if (!t) {
        t = createTile(s.key, s.pid, s.source, s.isLocal);
        tiles.set(s.key, t);
      }
      updateTile(t, s);
    }
    // Order: screen shares, then local, then others in join order.
    const ordered = specs.map((s) => tiles.get(s.key));
    const screens = ordered.filter((t) => t.source === 'screen');
    const cams = ordered.filter((t) => t.source === 'camera');
    let main = [];
    let rest = [];
    let mode = 'grid';
    if (screens.length) {
      mode = 'presentation';
      const remoteScreen = screens.find((t) => !t.isLocal);
      main = [remoteScreen || screens[0]];
      rest = [...screens.filter((t) => t !== main[0]), ...cams];
    } else if (layout === 'speaker' && cams.length > 1) {
      mode = 'speaker';
      const me = room.localParticipant?.id;
      let focus = cams.find((t) => t.pid === lastSpeaker && t.pid !== me);
      if (!focus) focus = cams.find((t) => !t.isLocal);
      main = [focus];
      rest = cams.filter((t) => t !== focus);
    } else {
      main = cams;
      rest = [];
    }
    stage.dataset.mode = mode;
    stage.dataset.layout = layoutBucket(main.length + (mode === 'grid' ? 0 : rest.length));
    stage.dataset.count = String(specs.length);
    syncChildren(mainArea, main.map((t) => t.el));
    syncChildren(strip, rest.map((t) => t.el));
    strip.hidden = rest.length === 0;
    layoutGrid();
    alone.hidden = room.participants.size > 0 || ended || aloneDismissed;
    syncAudio();
    updateToolbar();
    for (const t of tiles.values()) {
      if (t.video.srcObject && t.video.paused) t.video.play().catch(() => {});
    }
  }

  function syncChildren(parent, els) {
    els.forEach((el, i) => {
      if (parent.children[i] !== el) parent.insertBefore(el, parent.children[i] || null);
    });
    while (parent.children.length > els.length) parent.lastChild.remove();
  }

  function layoutGrid() {
    const n = mainArea.children.length;
    const rect = mainArea.getBoundingClientRect();
    const W = rect.width || stage.clientWidth || 800;
    const H = rect.height || stage.clientHeight || 450;
    const portrait = W / H < 0.9;
    const isScreen = stage.dataset.mode === 'presentation';
    let g;
    if (isScreen) g = { cols: 1, rows: 1, w: Math.floor(W), h: Math.floor(H) };
    else if (portrait) {
      // Phones held upright: fill the width, one column for two people, two columns beyond.
      const cols = n <= 2 ? 1 : 2;
      const rows = Math.ceil(n / cols);
      g = { cols, rows, w: Math.floor((W - 8 * (cols - 1)) / cols), h: Math.floor((H - 8 * (rows - 1)) / rows) };
    } else g = bestGrid(n, W, H, 8, 16 / 9);
    const scroll = g.h < 100;
    if (scroll) {
      g.h = 100;
      g.w = Math.floor(Math.min((W - 8 * (g.cols - 1)) / g.cols, 100 * 16 / 9));
    }
    mainArea.style.setProperty('--cols', String(g.cols));
    mainArea.style.setProperty('--rows', String(g.rows));
    mainArea.style.setProperty('--tile-w', `${g.w}px`);
    mainArea.style.setProperty('--tile-h', `${g.h}px`);
    mainArea.classList.toggle('scroll', scroll);
  }

  function syncAudio() {
    const want = new Map();
    for (const t of room.tracks) {
      if (t.kind === 'audio' && t.track) want.set(t.id, t.track);
    }
    for (const [id, a] of audios) {
      if (!want.has(id) || want.get(id) !== a.track) {
        a.detach();
        a.el.remove();
        audios.delete(id);
      }
    }
    for (const [id, track] of want) {
      if (audios.has(id)) continue;
      const el = h('audio', { autoplay: true, 'data-track': id });
      audioBox.appendChild(el);
      let detach;
      try {
        detach = room.attach(track, el);
      } catch {
        el.srcObject = new MediaStream([track]);
        el.play().catch(() => {});
        detach = () => { el.srcObject = null; };
      }
      if (local.sinkId && el.setSinkId) el.setSinkId(local.sinkId).catch(() => {});
      audios.set(id, { el, track, detach });
    }
  }

  function updateAll() {
    scheduleRender();
    updateToolbar();
    people.render();
  }

  // ------------------------------------------------------------------ lobby (hosts)
  function addKnock(p) {
    if (lobbyCards.has(p.id)) return;
    const admit = h('button.btn.btn-primary.btn-sm', { type: 'button', 'data-testid': 'lobby-admit', text: 'Admit' });
    const deny = h('button.btn.btn-text.btn-sm', { type: 'button', 'data-testid': 'lobby-deny', text: 'Deny' });
    const card = h('div.knock', { 'data-testid': 'lobby-request', 'data-participant': p.id, role: 'alert' },
      h('div.avatar.avatar-sm', { style: { background: avatarColor(p.id) }, text: initials(p.name), 'aria-hidden': 'true' }),
      h('div.knock-text', null, h('strong', { text: p.name }), h('span.muted', { text: ' wants to join' })),
      h('div.knock-actions', null, deny, admit));
    admit.addEventListener('click', () => room.host.admit(p.id).catch((e) => toast(`Could not admit: ${e.message}`, { kind: 'error' })));
    deny.addEventListener('click', () => room.host.deny(p.id).catch((e) => toast(`Could not deny: ${e.message}`, { kind: 'error' })));
    knocks.appendChild(card);
    lobbyCards.set(p.id, card);
  }

  function removeKnock(id) {
    lobbyCards.get(id)?.remove();
    lobbyCards.delete(id);
  }

  // ------------------------------------------------------------------ room events
  const on = (ev, fn) => offs.push(room.on(ev, fn));
  on('dialProgress', showDialProgress);
  const handState = new Map();
  on('participant', (p) => {
    toast(`${p.name} joined`);
    updateAll();
  });
  on('participantLeft', (p) => {
    toast(p.reason === 'removed' ? `${p.name} was removed` : `${p.name} left`);
    speakers.delete(p.id);
    updateAll();
  });
  on('participantUpdated', (p) => {
    const me = room.localParticipant;
    if (me && p.id === me.id) {
      if (local.hand !== !!p.hand) local.hand = !!p.hand;
    }
    const prev = handState.get(p.id) || false;
    if (p.hand && !prev && (!me || p.id !== me.id)) toast(`${p.name} raised a hand`);
    handState.set(p.id, !!p.hand);
    updateAll();
  });
  on('track', () => updateAll());
  on('trackRemoved', () => updateAll());
  on('trackUpdated', () => updateAll());
  on('localTracks', () => updateAll());
  on('published', () => updateAll());
  on('speakers', (ids) => {
    speakers = new Set(ids);
    const me = room.localParticipant?.id;
    const first = ids.find((id) => id !== me);
    if (first && first !== lastSpeaker) {
      lastSpeaker = first;
      if (layout === 'speaker') scheduleRender();
    }
    for (const t of tiles.values()) {
      t.el.classList.toggle('speaking', t.source === 'camera' && speakers.has(t.pid) && !micMuted(t.pid));
    }
  });
  on('quality', (q) => {
    quality = q || {};
    for (const t of tiles.values()) if (!t.isLocal) setQuality(t.q, quality[t.pid] || null);
  });
  on('room', (info) => {
    updateToolbar();
    people.render();
    void info;
  });
  on('lobby', (p) => {
    if (room.localParticipant?.host) {
      addKnock(p);
      people.render();
    }
  });
  on('lobbyRemoved', (p) => {
    removeKnock(p.id);
    people.render();
  });
  on('muted', ({ source }) => {
    if (source === 'microphone') {
      local.micOn = false;
      toast('A host muted your microphone');
    } else if (source === 'camera') {
      local.camOn = false;
      const olds = local.stream.getVideoTracks();
      room.replaceTrack('camera', null).catch(() => {}).then(() => {
        for (const t of olds) { t.stop(); local.stream.removeTrack(t); }
        updateAll();
      });
      toast('A host turned off your camera');
    }
    updateAll();
  });
  on('chat', (m) => {
    const me = room.localParticipant;
    if (panel !== 'chat' && (!me || m.from !== me.id)) {
      toast(`${m.name}: ${m.file ? `sent ${m.file.name}` : m.text}`.slice(0, 140));
    }
  });
  on('state', (s) => {
    banner.hidden = s !== 'reconnecting';
    page.classList.toggle('is-reconnecting', s === 'reconnecting');
    if (s === 'connected') scheduleRender();
  });
  on('disconnected', ({ reason }) => {
    finish(reason);
  });
  on('error', (err) => {
    if (err.code === 'rate_limited') toast('You are sending too fast; slow down.', { kind: 'error' });
    else if (err.code === 'forbidden') toast('You are not allowed to do that.', { kind: 'error' });
    else console.warn('switchboard:', err);
  });

  // ------------------------------------------------------------------ keyboard
  const onKey = (ev) => {
    if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey || isTyping(ev)) return;
    if (document.querySelector('dialog[open]')) return;
    const k = ev.key.toLowerCase();
    const actions = { m: toggleMic, v: toggleCam, h: toggleHand, c: () => togglePanel('chat'), p: () => togglePanel('people'), l: toggleLayout };
    if (actions[k]) {
      ev.preventDefault();
      actions[k]();
    } else if (k === 'escape' && panel) {
      togglePanel(null);
    }
  };
  document.addEventListener('keydown', onKey);

  const ro = new ResizeObserver(() => layoutGrid());
  ro.observe(stage);

  // Clock and own statistics.
  const tick = () => { clock.textContent = formatTime(new Date()); };
  tick();
  timers.push(setInterval(tick, 10000));
  const pollStats = async () => {
    if (ended || room.state !== 'connected') return;
    try {
      local.stats = await room.stats();
      const t = tiles.get('local:camera');
      if (t) updateTile(t, tileSpecs().find((s) => s.key === 'local:camera'));
    } catch { /* closed */ }
  };
  timers.push(setInterval(pollStats, 3000));

  function finish(reason) {
    if (ended) return;
    ended = true;
    cleanup();
    opts.onEnd(reason === 'bye' ? 'left' : reason || 'left');
  }

  function cleanup() {
    for (const off of offs) off();
    offs.length = 0;
    for (const t of timers) clearInterval(t);
    document.removeEventListener('keydown', onKey);
    ro.disconnect();
    for (const t of tiles.values()) t.detach?.();
    tiles.clear();
    for (const a of audios.values()) a.detach();
    audios.clear();
    chat.destroy();
    settings.close();
    stopStream(local.stream);
  }

  // ------------------------------------------------------------------ start
  render();
  for (const p of room.lobby.values()) if (room.localParticipant?.host) addKnock(p);
  (async () => {
    try {
      if (local.stream.getTracks().length) await room.publish(local.stream);
    } catch (err) {
      if (!ended) toast(`Could not send your camera or microphone: ${err.message}`, { kind: 'error' });
    }
    updateAll();
  })();
  micBtn.focus({ preventScroll: true });

  return {
    destroy() {
      if (!ended) {
        ended = true;
        cleanup();
        room.leave();
      }
    },
  };
}

/**
 * Switchboard JavaScript SDK.
 *
 * One ES module, no dependencies. It implements the Switchboard signalling protocol, version 1
 * (docs/protocol.md): one WebSocket per session, two RTCPeerConnections in SFU rooms ("pub" to send,
 * "sub" to receive), one RTCPeerConnection between the two browsers in peer-to-peer rooms.
 *
 * @example
 * import { connect } from 'https://meet.example.com/sdk/switchboard.js';
 * const room = await connect('https://meet.example.com', { room: 'standup', name: 'Ada' });
 * room.on('track', ({ track, participant, source }) => { ... });
 * await room.publish(await navigator.mediaDevices.getUserMedia({ audio: true, video: true }));
 *
 * @module switchboard
 */

import { signIn, MessagingClient } from './messaging.js';
import { Emitter } from './emitter.js';

/** Protocol version spoken by this SDK. */
export const PROTOCOL_VERSION = 1;

const REQUEST_TIMEOUT_MS = 10000;
const PING_INTERVAL_MS = 10000;
const SILENCE_TIMEOUT_MS = 25000;
const RESUME_WINDOW_MS = 30000;
const BACKOFF_MS = [500, 1000, 2000, 4000, 5000];

/** Simulcast layers for camera video ≥ 640 px wide: rids q, h, f (low to high). */
const SIMULCAST_ENCODINGS = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500000 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1500000 },
];

/**
 * An error from the server or the SDK. `code` is one of the protocol's error codes
 * (`room_full`, `room_locked`, `denied`, `not_found`, `unauthorized`, `token_expired`, `forbidden`, ...)
 * or one of the SDK's own: `timeout` (no answer within 10 s), `disconnected` (the socket closed before the
 * answer came), `aborted` (the caller cancelled), `network` (the WebSocket could not be opened),
 * `http_<status>` (a failed HTTP request, e.g. `http_413` for an upload over the server's limit).
 */
export class SwitchboardError extends Error {
  /**
   * @param {string} code
   * @param {string} [message]
   */
  constructor(code, message) {
    super(message || code);
    this.name = 'SwitchboardError';
    /** @type {string} */
    this.code = code;
  }
}

/**
 * @typedef {Object} Participant
 * @property {string} id      Server participant id (`p_...`).
 * @property {string} name    Display name.
 * @property {boolean} host   Whether the participant is a host of the room.
 * @property {boolean} hand   Whether the participant's hand is raised.
 */

/**
 * @typedef {Object} TrackEvent
 * @property {string} id                     Server track id (`t_...`; in peer-to-peer rooms the sender's stream id).
 * @property {MediaStreamTrack} track        The received track.
 * @property {MediaStream} stream            A stream holding just this track (handy for `srcObject`).
 * @property {Participant} participant      Who publishes it.
 * @property {'camera'|'microphone'|'screen'} source
 * @property {'audio'|'video'} kind
 * @property {boolean} muted                 Whether the publisher has muted it.
 */

/**
 * @typedef {Object} ChatMessage
 * @property {number} seq     Room-wide sequence number.
 * @property {string} from    Sender's participant id.
 * @property {string} name    Sender's display name.
 * @property {string} text    Message text (plain text; never insert it as HTML).
 * @property {string} at      RFC 3339 time.
 * @property {FileInfo} [file]
 */

/**
 * @typedef {Object} FileInfo
 * @property {string} id
 * @property {string} name
 * @property {number} size   Bytes.
 * @property {string} type   MIME type.
 * @property {string} url    Absolute download URL.
 */

/**
 * @typedef {Object} RoomInfo
 * @property {string} id
 * @property {boolean} p2p
 * @property {boolean} locked
 * @property {boolean} lobby
 * @property {number} maxParticipants
 */

/**
 * @typedef {Object} ConnectOptions
 * @property {string} room                 Room id: 1-64 characters of `A-Z a-z 0-9 _ -`.
 * @property {string} [name]               Display name (ignored when the token carries one).
 * @property {string} [token]              JWT minted from an API key; needed where sign-in is required.
 * @property {RTCConfiguration} [rtcConfig] Merged into every RTCPeerConnection's configuration
 *                                          (e.g. `{iceTransportPolicy: 'relay'}` to force TURN).
 * @property {string} [wsURL]              Override the signalling URL (default: baseURL's origin with
 *                                          `ws:`/`wss:` + `/api/v1/signal`).
 * @property {AbortSignal} [signal]        Cancels the attempt (e.g. while waiting in the lobby).
 * @property {() => void} [onWaiting]      Called when the room has a lobby and we wait for a host.
 * @property {boolean} [debug]             Log every signalling message to the console.
 * @property {number} [subscribeWait]      When others already publish in the room, `connect` also waits
 *                                          (at most this many ms; default 0, not at all) until the subscribe
 *                                          connection for their tracks is negotiated, so that what the page
 *                                          does next (publishing, laying out the call) does not delay
 *                                          receiving them. `track` events for those tracks may then fire
 *                                          before `connect` resolves: read `room.tracks` once it has.
 */


/**
 * Join a room. Resolves with a connected {@link Room} once the server answers `joined` (after a host
 * admits us, when the room has a lobby) and, with `subscribeWait`, once our answer to the server's first
 * subscribe offer has gone out if others publish already; rejects with a {@link SwitchboardError}.
 *
 * @param {string} baseURL  The server's address, e.g. `https://meet.example.com` (may be another origin;
 *                          the server must list this page's origin in `allowed_origins`). Empty means this page's origin.
 * @param {ConnectOptions} options
 * @returns {Promise<Room>}
 */
export async function connect(baseURL, options) {
  const room = new Room(baseURL, options || /** @type {any} */ ({}));
  await room._join();
  return room;
}

/**
 * A session in a room. Create it with {@link connect}.
 *
 * Events (subscribe with `room.on(name, fn)`; `on` returns an unsubscribe function):
 * - `participant` (Participant): a remote participant joined.
 * - `participantLeft` (Participant & {reason}): a remote participant left.
 * - `participantUpdated` (Participant): name, hand or host changed. Also fires for the local participant
 *   (compare `p.id === room.localParticipant.id`).
 * - `track` (TrackEvent): a remote track can be played. `trackRemoved` (TrackEvent) when it goes.
 * - `trackUpdated` (TrackEvent-like, `track` may be undefined before media arrives): muted state changed.
 * - `chat` (ChatMessage): a chat message, including our own.
 * - `state` ('connected' | 'reconnecting' | 'disconnected').
 * - `disconnected` ({reason, error}): why the session ended (`left`, `removed`, `room-closed`,
 *   `shutdown`, `replaced`, `resume-failed`).
 * - `speakers` (string[]): active speakers' participant ids, loudest first.
 * - `quality` (Object<string, 'good'|'fair'|'poor'>): connection quality by participant id.
 * - `room` (RoomInfo): locked/lobby changed.
 * - `lobby` ({id, name}): (hosts) someone waits in the lobby. `lobbyRemoved` ({id, name}) when they
 *   were admitted or denied.
 * - `muted` ({source, by}): a host muted one of our tracks; the SDK has already muted it locally.
 * - `published` ({source, id, clientId}): one of our tracks is published.
 * - `error` (SwitchboardError): an error not tied to a call the app made.
 */
export class Room extends Emitter {
  /**
   * @param {string} baseURL
   * @param {ConnectOptions} opts
   */
  constructor(baseURL, opts) {
    super();
    const loc = typeof location !== 'undefined' ? location.href : 'http://localhost/';
    const base = new URL(baseURL || '/', loc);
    /** The server's origin, e.g. `https://meet.example.com`. */
    this.baseURL = base.origin;
    this._wsURL = opts.wsURL || `${base.protocol === 'https:' ? 'wss:' : 'ws:'}//${base.host}/api/v1/signal`;
    this._opts = opts;
    this._roomId = opts.room;
    this._name = opts.name;
    this._token = opts.token;

    /** @type {'connecting'|'connected'|'reconnecting'|'disconnected'} */
    this.state = 'connecting';
    /** @type {RoomInfo|null} */
    this.info = null;
    /** @type {Participant|null} the local participant */
    this.localParticipant = null;
    /**
     * Remote participants by id (a `Map<string, Participant>`; excludes the local participant).
     * The objects are updated in place.
     * @type {Map<string, Participant>}
     */
    this.participants = new Map();
    /** @type {ChatMessage[]} chat history, oldest first (from `joined.chat`, then live messages) */
    this.chatHistory = [];
    /** @type {Map<string, {id:string, name:string}>} (hosts) people waiting in the lobby */
    this.lobby = new Map();
    /** @type {string[]} active speakers, loudest first */
    this.speakers = [];
    /** @type {Object<string,string>} connection quality by participant id */
    this.quality = {};
    /** @type {{publish:boolean, subscribe:boolean, moderate:boolean}} */
    this.permissions = { publish: true, subscribe: true, moderate: false };

    /** Host controls (only hosts may use them; others get `forbidden`). */
    this.host = {
      /** Mute a participant's microphone and camera. @param {string} pid */
      mute: (pid) => this._hostAction('mute', pid),
      /** Remove a participant from the room. @param {string} pid */
      remove: (pid) => this._hostAction('remove', pid),
      /** Lock or unlock the room. @param {boolean} on */
      lock: (on) => this._hostAction(on ? 'lock' : 'unlock'),
      /** Turn the lobby on or off. @param {boolean} on */
      lobby: (on) => this._hostAction(on ? 'lobby-on' : 'lobby-off'),
      /** Let someone in from the lobby. @param {string} pid */
      admit: (pid) => this._hostAction('admit', pid).then((r) => (this._lobbyRemove(pid), r)),
      /** Refuse someone waiting in the lobby. @param {string} pid */
      deny: (pid) => this._hostAction('deny', pid).then((r) => (this._lobbyRemove(pid), r)),
    };

    this._session = null;
    this._ws = null;
    this._seq = 0;
    /** @type {Map<string, {resolve:Function, reject:Function, timer:any}>} */
    this._pending = new Map();
    this._outbox = [];
    this._pingTimer = null;
    this._silenceTimer = null;
    this._closing = false;
    this._iceServers = [];

    // SFU media.
    /** @type {RTCPeerConnection|null} */
    this._pub = null;
    /** @type {RTCPeerConnection|null} */
    this._sub = null;
    this._pubNegotiation = null;
    this._pubDirty = false;
    this._pubIceRestart = false;
    this._subChain = Promise.resolve();
    /** @private resolves when an answer to a subscribe offer has been sent (or failed) */
    this._subAnswered = null;
    this._onSubAnswered = () => {};
    this._candQueue = { pub: [], sub: [], p2p: [] };

    /**
     * Our publications by source.
     * @type {Map<string, {source:string, track:MediaStreamTrack|null, clientId:string,
     *   transceiver:RTCRtpTransceiver|null, sender:RTCRtpSender|null, stream:MediaStream,
     *   serverId:string|null, muted:boolean, owned:boolean}>}
     */
    this._local = new Map();
    /** @type {Map<string, Function[]>} waiters for `published` by client track id */
    this._publishWaiters = new Map();
    /** @type {Map<string, any>} track metadata by server track id (others' tracks) */
    this._trackMeta = new Map();
    /** @type {Map<string, {id:string, track:MediaStreamTrack, stream:MediaStream, emitted:boolean}>} */
    this._remote = new Map();
    /** last chat seq seen */
    this._lastChatSeq = 0;
    /** @type {Map<string, {width:number, height:number}>} last view sent per track */
    this._views = new Map();
    /** @type {Map<HTMLElement, {id:string, update:Function}>} elements watched by attach() */
    this._viewWatchers = new Map();

    // Peer-to-peer media.
    /** @type {RTCPeerConnection|null} */
    this._p2p = null;
    this._p2pPeer = null;
    this._p2pPolite = false;
    this._p2pMakingOffer = false;
    this._p2pIgnoreOffer = false;
    this._p2pRemoteSources = new Map();
    this._p2pSpeakerTimer = null;

    this._statsPrev = null;
  }

  // ---------------------------------------------------------------------------------------------
  // Public API
  // ---------------------------------------------------------------------------------------------

  /** The room id. */
  get id() {
    return this.info ? this.info.id : this._roomId;
  }

  /** The secret session token (authorises resume and uploads). */
  get session() {
    return this._session;
  }

  /** Whether this is a peer-to-peer room. */
  get p2p() {
    return !!(this.info && this.info.p2p);
  }

  /**
   * How a telephone dials into this meeting, when the server has telephony: the extension (or
   * number) to call and the 9-digit PIN to key, else null.
   * @returns {{extension: string, pin: string}|null}
   */
  get dialIn() {
    return this.info && this.info.pin ? { extension: this.info.dialIn || '', pin: this.info.pin } : null;
  }

  /**
   * Rings a telephone (a SIP extension) and brings it into the meeting when it answers. Hosts only.
   * Resolves once the phone is being called; progress arrives as `dialProgress` events
   * `{target, state: 'ringing'|'answered'|'failed'|'ended', participant?, reason?}`.
   * @param {string} target
   */
  async dialOut(target) {
    await this._request({ type: 'dialOut', target: String(target) });
  }

  /**
   * The peer connections, for tests and diagnostics: `{pub, sub}` in SFU rooms, `{p2p}` in
   * peer-to-peer rooms (entries may be null).
   * @returns {{pub?: RTCPeerConnection|null, sub?: RTCPeerConnection|null, p2p?: RTCPeerConnection|null}}
   */
  peerConnections() {
    return this.p2p ? { p2p: this._p2p } : { pub: this._pub, sub: this._sub };
  }

  /** All live peer connections as an array. @type {RTCPeerConnection[]} */
  get pcs() {
    return [this._pub, this._sub, this._p2p].filter(Boolean);
  }

  /**
   * Remote tracks we know of (announced by the server), whether or not media has arrived yet.
   * @returns {Array<{id:string, participant:Participant|undefined, source:string, kind:string, muted:boolean, track:MediaStreamTrack|undefined}>}
   */
  get tracks() {
    const out = [];
    for (const [id, m] of this._trackMeta) {
      out.push({
        id, participant: this._participant(m.participant), source: m.source, kind: m.kind,
        muted: !!m.muted, track: this._remote.get(id)?.track,
      });
    }
    return out;
  }

  /**
   * Our publications: `{source: {track, id (server track id or null), muted}}`.
   * @returns {Object<string, {track: MediaStreamTrack|null, id: string|null, muted: boolean}>}
   */
  get localTracks() {
    const out = {};
    for (const [src, l] of this._local) out[src] = { track: l.track, id: l.serverId, muted: l.muted };
    return out;
  }

  /**
   * Publish a camera/microphone stream: its audio track as `microphone`, its video track as `camera`.
   * Camera video at least 640 px wide is sent as three simulcast layers (q/h/f). A track whose
   * `enabled` is false is published muted. Resolves when the server has announced every track.
   * @param {MediaStream} stream
   * @returns {Promise<void>}
   */
  async publish(stream) {
    const jobs = [];
    for (const t of stream.getAudioTracks().slice(0, 1)) jobs.push(this.publishTrack(t, 'microphone'));
    for (const t of stream.getVideoTracks().slice(0, 1)) jobs.push(this.publishTrack(t, 'camera'));
    await Promise.all(jobs);
  }

  /**
   * Publish one track under a source. If that source is already published, its track is replaced
   * instead (no renegotiation).
   * @param {MediaStreamTrack} track
   * @param {'camera'|'microphone'|'screen'} source
   * @returns {Promise<string|null>} the server track id (null in peer-to-peer rooms)
   */
  async publishTrack(track, source) {
    this._assertLive();
    const existing = this._local.get(source);
    if (existing && existing.track !== null && existing.sender) {
      await this.replaceTrack(source, track);
      return existing.serverId;
    }
    const muted = track.enabled === false || !!(existing && existing.muted);
    if (muted) track.enabled = false;
    const stream = new MediaStream([track]);
    const entry = {
      source, track, clientId: track.id, transceiver: null, sender: null, stream,
      serverId: null, muted, owned: false,
    };
    this._local.set(source, entry);
    if (this.p2p) {
      if (this._p2p) this._p2pAddLocal(entry);
      return null;
    }
    if (!this._pub) this._createPub();
    let sendEncodings;
    if (source === 'camera' && track.kind === 'video') {
      const w = track.getSettings ? track.getSettings().width || 0 : 0;
      if (w >= 640) sendEncodings = SIMULCAST_ENCODINGS.map((e) => ({ ...e }));
    }
    if (source === 'screen' && 'contentHint' in track && !track.contentHint) track.contentHint = 'detail';
    const init = { direction: 'sendonly', streams: [stream] };
    if (sendEncodings) init.sendEncodings = sendEncodings;
    entry.transceiver = this._pub.addTransceiver(track, init);
    entry.sender = entry.transceiver.sender;
    const published = this._waitPublished(entry.clientId);
    published.catch(() => {}); // handled below; avoid an unhandled rejection while negotiating
    try {
      await this._negotiatePub();
    } catch (err) {
      this._cancelPublishWaiter(entry.clientId, err);
      throw err;
    }
    const msg = await published;
    return msg.id;
  }

  /**
   * Stop publishing a source. The server is told (`unpublish`), the transceiver stops sending, and a
   * renegotiation follows. Tracks the SDK created itself (screen share) are stopped.
   * @param {'camera'|'microphone'|'screen'} source
   */
  async unpublish(source) {
    const entry = this._local.get(source);
    if (!entry) return;
    this._local.delete(source);
    if (entry.owned && entry.track) entry.track.stop();
    if (this.p2p) {
      if (this._p2p && entry.sender) {
        try { this._p2p.removeTrack(entry.sender); } catch { /* closed */ }
      }
      return;
    }
    if (entry.serverId && this.state !== 'disconnected') {
      try {
        await this._request({ type: 'unpublish', track: entry.serverId });
      } catch (err) {
        if (err.code !== 'not_found') throw err;
      }
    }
    if (entry.transceiver && this._pub && this._pub.signalingState !== 'closed') {
      try {
        await entry.sender.replaceTrack(null);
        entry.transceiver.direction = 'inactive';
      } catch { /* ignore */ }
      this._negotiatePub().catch((err) => this._emitError(err));
    }
  }

  /**
   * Share the screen (getDisplayMedia) as source `screen`. Resolves once published. When the user
   * stops sharing from the browser's UI, the share is unpublished automatically.
   * @param {{stream?: MediaStream, audio?: boolean}} [options] pass `stream` to publish a stream you
   *   already have (e.g. a canvas capture in tests) instead of prompting.
   * @returns {Promise<MediaStreamTrack>} the screen track
   */
  async shareScreen(options = {}) {
    this._assertLive();
    if (this._local.has('screen')) return this._local.get('screen').track;
    const stream = options.stream ||
      (await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 15 }, audio: false }));
    const track = stream.getVideoTracks()[0];
    if (!track) throw new SwitchboardError('bad_request', 'no video track to share');
    track.addEventListener('ended', () => {
      if (this._local.get('screen')?.track === track) this.stopScreenShare().catch(() => {});
    });
    try {
      await this.publishTrack(track, 'screen');
    } catch (err) {
      this._local.delete('screen');
      if (!options.stream) track.stop();
      throw err;
    }
    const entry = this._local.get('screen');
    if (entry && !options.stream) entry.owned = true;
    this.emit('localTracks', this.localTracks);
    return track;
  }

  /** Stop sharing the screen. */
  async stopScreenShare() {
    await this.unpublish('screen');
    this.emit('localTracks', this.localTracks);
  }

  /** Whether we are sharing the screen. */
  get sharingScreen() {
    return this._local.has('screen');
  }

  /**
   * Mute or unmute one of our sources. Locally sets `track.enabled`; tells the server so others see it.
   * May be called before publishing (the state applies when it is published).
   * @param {'microphone'|'camera'|'screen'} source
   * @param {boolean} muted
   */
  async setMuted(source, muted) {
    const entry = this._local.get(source);
    if (!entry) {
      this._local.set(source, {
        source, track: null, clientId: '', transceiver: null, sender: null, stream: new MediaStream(),
        serverId: null, muted: !!muted, owned: false,
      });
      return;
    }
    entry.muted = !!muted;
    if (entry.track) entry.track.enabled = !muted;
    if (this.p2p) {
      this._relay({ muted: { id: entry.stream.id, muted: !!muted } });
      return;
    }
    if (entry.serverId) await this._request({ type: 'mute', track: entry.serverId, muted: !!muted });
  }

  /**
   * Whether one of our sources is muted.
   * @param {'microphone'|'camera'|'screen'} source
   */
  isMuted(source) {
    const e = this._local.get(source);
    return e ? e.muted : false;
  }

  /**
   * Swap the track sent for a source (e.g. after the user picks another camera) without renegotiation.
   * The old track is not stopped. The mute state carries over. If the source is not published yet, the
   * track is published.
   * @param {'microphone'|'camera'|'screen'|'audio'|'video'} kind
   * @param {MediaStreamTrack|null} newTrack
   */
  async replaceTrack(kind, newTrack) {
    const source = kind === 'audio' ? 'microphone' : kind === 'video' ? 'camera' : kind;
    const entry = this._local.get(source);
    if (!entry || !entry.sender) {
      if (!newTrack) return;
      const muted = entry ? entry.muted : false;
      if (entry) this._local.delete(source);
      if (muted) newTrack.enabled = false;
      await this.publishTrack(newTrack, source);
      return;
    }
    if (newTrack) newTrack.enabled = !entry.muted;
    await entry.sender.replaceTrack(newTrack);
    if (entry.track && entry.stream) {
      try { entry.stream.removeTrack(entry.track); } catch { /* ignore */ }
    }
    entry.track = newTrack;
    if (newTrack) entry.stream.addTrack(newTrack);
  }

  /**
   * Tell the server the size at which we render a remote video track (in device pixels); 0×0 means not
   * visible and the server stops sending it. Prefer {@link Room#attach}, which does this automatically.
   * @param {string} trackId server track id
   * @param {number} width
   * @param {number} height
   */
  setView(trackId, width, height) {
    if (this.p2p) return;
    width = Math.max(0, Math.round(width));
    height = Math.max(0, Math.round(height));
    const prev = this._views.get(trackId);
    if (prev && prev.width === width && prev.height === height) return;
    this._views.set(trackId, { width, height });
    this._send({ type: 'view', track: trackId, width, height });
  }

  /**
   * Play a track in a media element. For remote video, watches the element's size and visibility
   * (ResizeObserver, IntersectionObserver) and sends `view` so the server picks a fitting simulcast layer.
   * @param {MediaStreamTrack|string} trackOrId a MediaStreamTrack or a server track id
   * @param {HTMLMediaElement} element
   * @returns {() => void} detach: stops watching (and clears srcObject)
   */
  attach(trackOrId, element) {
    let remote = null;
    let track = null;
    if (typeof trackOrId === 'string') {
      remote = this._remote.get(trackOrId) || null;
      track = remote ? remote.track : null;
    } else {
      track = trackOrId;
      for (const r of this._remote.values()) if (r.track === track) remote = r;
    }
    if (!track) throw new SwitchboardError('not_found', 'unknown track');
    element.autoplay = true;
    if ('playsInline' in element) element.playsInline = true;
    const stream = remote ? remote.stream : new MediaStream([track]);
    if (element.srcObject !== stream) element.srcObject = stream;
    const playing = element.play();
    if (playing && playing.catch) playing.catch(() => {});
    if (!remote || track.kind !== 'video' || this.p2p) {
      return () => {
        if (element.srcObject === stream) element.srcObject = null;
      };
    }
    const id = remote.id;
    let visible = true;
    let timer = null;
    const update = () => {
      timer = null;
      if (!element.isConnected || !visible) {
        this.setView(id, 0, 0);
        return;
      }
      const dpr = (typeof devicePixelRatio === 'number' && devicePixelRatio) || 1;
      const w = element.clientWidth * dpr;
      const h = element.clientHeight * dpr;
      this.setView(id, w, h);
    };
    const schedule = () => {
      if (!timer) timer = setTimeout(update, 150);
    };
    const ro = typeof ResizeObserver !== 'undefined' ? new ResizeObserver(schedule) : null;
    const io = typeof IntersectionObserver !== 'undefined'
      ? new IntersectionObserver((entries) => {
        for (const e of entries) visible = e.isIntersecting;
        schedule();
      })
      : null;
    ro?.observe(element);
    io?.observe(element);
    schedule();
    this._viewWatchers.set(element, { id, update: schedule });
    return () => {
      ro?.disconnect();
      io?.disconnect();
      clearTimeout(timer);
      this._viewWatchers.delete(element);
      if (this.state !== 'disconnected' && this._remote.has(id)) {
        let stillShown = false;
        for (const w of this._viewWatchers.values()) if (w.id === id) stillShown = true;
        if (!stillShown) this.setView(id, 0, 0);
      }
      if (element.srcObject === stream) element.srcObject = null;
    };
  }

  /**
   * Send a chat message. `options.file` may be a File/Blob (uploaded first), a {@link FileInfo}, or a file id.
   * @param {string} text at most 4000 characters
   * @param {{file?: File|Blob|FileInfo|string}} [options]
   * @returns {Promise<{seq:number}>}
   */
  async sendChat(text, options = {}) {
    const msg = { type: 'chat', text: String(text ?? '') };
    let file = options.file;
    if (file && typeof Blob !== 'undefined' && file instanceof Blob) file = await this.uploadFile(file);
    if (file) msg.file = typeof file === 'string' ? file : file.id;
    const res = await this._request(msg);
    return { seq: res.seq };
  }

  /**
   * Upload a file to the room (HTTP POST with the session token) so it can be sent in chat.
   * @param {File|Blob} file
   * @param {string} [name] defaults to `file.name`
   * @returns {Promise<FileInfo>}
   */
  async uploadFile(file, name) {
    if (!this._session) throw new SwitchboardError('not_joined', 'not joined');
    const fname = name || file.name || 'file';
    const url = `${this.baseURL}/api/v1/rooms/${encodeURIComponent(this.id)}/files?name=${encodeURIComponent(fname)}`;
    let res;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${this._session}`,
          'Content-Type': file.type || 'application/octet-stream',
        },
        body: file,
      });
    } catch (err) {
      throw new SwitchboardError('network', `upload failed: ${err.message}`);
    }
    if (!res.ok) {
      let code = `http_${res.status}`;
      let message = res.status === 413 ? 'the file is too large' : `upload failed (${res.status})`;
      try {
        const body = await res.json();
        if (body && body.code) code = body.code;
        if (body && (body.message || body.error)) message = body.message || body.error;
      } catch { /* not JSON */ }
      const err = new SwitchboardError(code, message);
      err.status = res.status;
      throw err;
    }
    const info = await res.json();
    return this._absFile(info);
  }

  /**
   * Raise or lower our hand.
   * @param {boolean} raised
   */
  async raiseHand(raised = true) {
    await this._request({ type: 'hand', raised: !!raised });
    if (this.localParticipant && this.localParticipant.hand !== !!raised) {
      this.localParticipant.hand = !!raised;
      this.emit('participantUpdated', this.localParticipant);
    }
  }

  /**
   * Connection statistics summed over our peer connections, with rates since the previous call.
   * @returns {Promise<{rtt:number|null, loss:number, sendBitrate:number, recvBitrate:number,
   *   quality:'good'|'fair'|'poor', reports: Object<string, RTCStatsReport>}>}
   *   `rtt` in milliseconds, `loss` a fraction 0..1 (of packets received and reported lost by the far end),
   *   bitrates in bits per second.
   */
  async stats() {
    const reports = {};
    const pcs = this.peerConnections();
    let rtts = [];
    let lost = 0;
    let received = 0;
    let bytesSent = 0;
    let bytesRecv = 0;
    for (const [name, pc] of Object.entries(pcs)) {
      if (!pc || pc.connectionState === 'closed') continue;
      const r = await pc.getStats();
      reports[name] = r;
      r.forEach((s) => {
        if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded' &&
          typeof s.currentRoundTripTime === 'number') rtts.push(s.currentRoundTripTime * 1000);
        if (s.type === 'inbound-rtp') {
          lost += Math.max(0, s.packetsLost || 0);
          received += s.packetsReceived || 0;
          bytesRecv += s.bytesReceived || 0;
        }
        if (s.type === 'remote-inbound-rtp') {
          lost += Math.max(0, s.packetsLost || 0);
          if (typeof s.roundTripTime === 'number') rtts.push(s.roundTripTime * 1000);
        }
        if (s.type === 'outbound-rtp') {
          received += s.packetsSent || 0;
          bytesSent += s.bytesSent || 0;
        }
      });
    }
    const now = performance.now();
    const prev = this._statsPrev;
    this._statsPrev = { now, lost, received, bytesSent, bytesRecv };
    let loss = 0;
    let sendBitrate = 0;
    let recvBitrate = 0;
    if (prev && now > prev.now) {
      const dl = lost - prev.lost;
      const dr = received - prev.received;
      loss = dl + dr > 0 ? Math.max(0, dl) / (Math.max(0, dl) + Math.max(0, dr)) : 0;
      const secs = (now - prev.now) / 1000;
      sendBitrate = Math.max(0, ((bytesSent - prev.bytesSent) * 8) / secs);
      recvBitrate = Math.max(0, ((bytesRecv - prev.bytesRecv) * 8) / secs);
    } else if (lost + received > 0) {
      loss = lost / (lost + received);
    }
    const rtt = rtts.length ? Math.max(...rtts) : null;
    let quality = 'good';
    if (loss > 0.1 || (rtt !== null && rtt > 500)) quality = 'poor';
    else if (loss > 0.02 || (rtt !== null && rtt > 250)) quality = 'fair';
    return { rtt, loss, sendBitrate, recvBitrate, quality, reports };
  }

  /**
   * Leave the room: tells the server, closes the socket and the peer connections. Tracks passed to
   * `publish()` are not stopped (the caller owns them); a screen share started by the SDK is.
   */
  async leave() {
    if (this.state === 'disconnected') return;
    this._closing = true;
    try {
      if (this._ws && this._ws.readyState === WebSocket.OPEN) this._ws.send(JSON.stringify({ type: 'leave' }));
    } catch { /* ignore */ }
    this._teardown('left');
  }

  // ---------------------------------------------------------------------------------------------
  // Signalling
  // ---------------------------------------------------------------------------------------------

  /** @private */
  async _join() {
    const signal = this._opts.signal;
    if (signal?.aborted) throw new SwitchboardError('aborted', 'cancelled');
    this._subAnswered = new Promise((resolve) => { this._onSubAnswered = resolve; });
    const { joined, early } = await this._openAndJoin(false, signal);
    this._applyJoined(joined, false);
    this._setState('connected');
    this._handleEarly(early);
    // The server offers the subscribe connection right after `joined`. Answering it before the page
    // goes on to publish and render (which keeps the main thread busy for hundreds of milliseconds on
    // a loaded machine) lets the others' media start that much sooner.
    const wait = this._opts.subscribeWait || 0;
    const me = this.localParticipant?.id;
    const others = (joined.tracks || []).some((t) => t.participant !== me);
    if (wait > 0 && others && !this.p2p && this.permissions.subscribe) {
      let timer;
      await Promise.race([this._subAnswered, new Promise((resolve) => { timer = setTimeout(resolve, wait); })]);
      clearTimeout(timer);
    }
  }

  /**
   * Handles messages that arrived before `joined` (a server may send the first subscribe offer or
   * room events right before it).
   * @private
   */
  _handleEarly(early) {
    for (const m of early) {
      try {
        this._handle(m);
      } catch (err) {
        console.error('switchboard: handling', m.type, err);
      }
    }
  }

  /**
   * Opens a socket and sends `join`. Resolves with `{joined, early}`: the `joined` message and the
   * messages that came before it.
   * @private
   */
  _openAndJoin(resume, signal) {
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new WebSocket(this._wsURL);
      } catch (err) {
        reject(new SwitchboardError('network', err.message));
        return;
      }
      const joinId = this._nextId();
      const early = [];
      let settled = false;
      let waiting = false;
      let timer = null;
      const finish = (err, msg) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (err) {
          ws.onclose = ws.onmessage = ws.onerror = null;
          try { ws.close(); } catch { /* ignore */ }
          reject(err);
        } else {
          this._adoptSocket(ws);
          resolve({ joined: msg, early });
        }
      };
      const onAbort = () => {
        try {
          if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'leave' }));
        } catch { /* ignore */ }
        finish(new SwitchboardError('aborted', 'cancelled'));
      };
      signal?.addEventListener('abort', onAbort);
      const armTimer = () => {
        clearTimeout(timer);
        timer = setTimeout(() => finish(new SwitchboardError('timeout', 'the server did not answer')), REQUEST_TIMEOUT_MS);
      };
      armTimer();
      ws.onopen = () => {
        const join = { type: 'join', id: joinId, v: PROTOCOL_VERSION, room: this._roomId };
        if (this._name) join.name = this._name;
        if (this._token) join.token = this._token;
        if (resume && this._session) join.resume = this._session;
        ws.send(JSON.stringify(join));
      };
      ws.onerror = () => {};
      ws.onclose = (ev) => {
        finish(new SwitchboardError(waiting ? 'disconnected' : 'network',
          `connection closed${ev.reason ? ': ' + ev.reason : ''}`));
      };
      ws.onmessage = (ev) => {
        let msg;
        try { msg = JSON.parse(ev.data); } catch { return; }
        if (msg.type === 'joined' && (msg.id === joinId || waiting || !msg.id)) {
          finish(null, msg);
        } else if (msg.type === 'waiting') {
          waiting = true;
          clearTimeout(timer);
          this.state = 'waiting';
          try { this._opts.onWaiting?.(); } catch { /* ignore */ }
          this.emit('waiting');
          // Keep the lobby connection alive.
          const keep = setInterval(() => {
            if (settled || ws.readyState !== WebSocket.OPEN) clearInterval(keep);
            else ws.send(JSON.stringify({ type: 'ping' }));
          }, PING_INTERVAL_MS);
        } else if (msg.type === 'error' && (msg.id === joinId || waiting || !msg.id)) {
          finish(new SwitchboardError(msg.code || 'internal', msg.message || msg.code));
        } else if (msg.type === 'bye') {
          finish(new SwitchboardError(msg.reason === 'removed' ? 'denied' : 'disconnected', msg.reason));
        } else if (msg.type !== 'pong') {
          early.push(msg);
        }
      };
    });
  }

  /** @private */
  _adoptSocket(ws) {
    this._ws = ws;
    ws.onmessage = (ev) => {
      this._touch();
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (this._opts.debug) console.debug('switchboard <', JSON.stringify(msg).slice(0, 300));
      try {
        this._handle(msg);
      } catch (err) {
        console.error('switchboard: handling', msg.type, err);
      }
    };
    ws.onclose = () => {
      if (this._ws !== ws) return;
      this._ws = null;
      this._onSocketLost();
    };
    ws.onerror = () => {};
    clearInterval(this._pingTimer);
    this._pingTimer = setInterval(() => this._send({ type: 'ping' }), PING_INTERVAL_MS);
    this._touch();
  }

  /** @private */
  _touch() {
    clearTimeout(this._silenceTimer);
    this._silenceTimer = setTimeout(() => {
      // No message (not even pong) for a long while: treat the socket as dead.
      if (this._ws) {
        const ws = this._ws;
        this._ws = null;
        try { ws.close(); } catch { /* ignore */ }
        this._onSocketLost();
      }
    }, SILENCE_TIMEOUT_MS);
  }

  /** @private */
  _nextId() {
    this._seq += 1;
    return String(this._seq);
  }

  /** @private */
  _send(msg) {
    if (this.state === 'disconnected') return;
    if (this._ws && this._ws.readyState === WebSocket.OPEN) {
      if (this._opts.debug && msg.type !== 'ping') console.debug('switchboard >', JSON.stringify(msg).slice(0, 300));
      this._ws.send(JSON.stringify(msg));
    } else if (this.state === 'reconnecting') {
      if (msg.type !== 'ping' && msg.type !== 'candidate') this._outbox.push(msg);
    }
  }

  /**
   * Sends a request and resolves with the server's answer (rejects with a SwitchboardError).
   * @private
   */
  _request(msg) {
    if (this.state === 'disconnected') return Promise.reject(new SwitchboardError('disconnected', 'not connected'));
    const id = this._nextId();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new SwitchboardError('timeout', `no answer to ${msg.type}`));
      }, REQUEST_TIMEOUT_MS);
      this._pending.set(id, { resolve, reject, timer });
      this._send({ ...msg, id });
    });
  }

  /** @private */
  _hostAction(action, participant) {
    const msg = { type: 'host', action };
    if (participant) msg.participant = participant;
    return this._request(msg);
  }

  /** @private */
  _handle(msg) {
    if (msg.id && this._pending.has(msg.id) && msg.type !== 'offer') {
      const p = this._pending.get(msg.id);
      this._pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.type === 'error') p.reject(new SwitchboardError(msg.code || 'internal', msg.message || msg.code));
      else p.resolve(msg);
      return;
    }
    switch (msg.type) {
      case 'pong':
      case 'ok':
        break;
      case 'error':
        this._emitError(new SwitchboardError(msg.code || 'internal', msg.message || msg.code));
        break;
      case 'offer':
        if (msg.pc === 'sub') this._onSubOffer(msg);
        break;
      case 'answer':
        break;
      case 'candidate':
        this._onRemoteCandidate(msg.pc, msg.candidate);
        break;
      case 'published':
        this._onPublished(msg.track);
        break;
      case 'participant-joined':
        this._addParticipant(msg.participant, true);
        break;
      case 'participant-updated':
        this._updateParticipant(msg.participant);
        break;
      case 'participant-left':
        this._removeParticipant(msg.participant && (msg.participant.id || msg.participant), msg.reason);
        break;
      case 'track-added':
        this._addTrackMeta(msg.track);
        break;
      case 'track-updated':
        this._updateTrackMeta(msg.track);
        break;
      case 'track-removed':
        this._removeTrackMeta(msg.track && (msg.track.id || msg.track));
        break;
      case 'speakers':
        this.speakers = msg.participants || [];
        this.emit('speakers', this.speakers);
        break;
      case 'quality':
        this.quality = msg.participants || {};
        this.emit('quality', this.quality);
        break;
      case 'room-updated':
        this.info = { ...this.info, ...msg.room };
        this.emit('room', this.info);
        break;
      case 'lobby': {
        const p = msg.participant;
        if (p && p.id) {
          this.lobby.set(p.id, p);
          this.emit('lobby', p);
        }
        break;
      }
      case 'chat':
        this._onChat(msg.message);
        break;
      case 'muted':
        this._onMutedByHost(msg);
        break;
      case 'relay':
        this._onRelay(msg.from, msg.data);
        break;
      case 'dial-progress':
        this.emit('dialProgress', { target: msg.target, state: msg.state, participant: msg.participant, reason: msg.reason });
        break;
      case 'bye':
        this._closing = true;
        this._teardown(msg.reason || 'bye');
        break;
      default:
        break;
    }
  }

  /** @private */
  _applyJoined(j, resumed) {
    this._session = j.session || this._session;
    this.localParticipant = this.localParticipant
      ? Object.assign(this.localParticipant, j.participant)
      : { ...j.participant };
    this.info = { ...j.room };
    if (j.permissions) this.permissions = { ...this.permissions, ...j.permissions };
    this._iceServers = j.iceServers || [];

    // Participants.
    const incoming = new Map((j.participants || []).map((p) => [p.id, p]));
    for (const id of [...this.participants.keys()]) {
      if (!incoming.has(id)) this._removeParticipant(id, 'left');
    }
    for (const p of incoming.values()) {
      if (this.participants.has(p.id)) this._updateParticipant(p);
      else this._addParticipant(p, resumed);
    }

    // Tracks.
    const tracks = new Map((j.tracks || []).map((t) => [t.id, t]));
    for (const id of [...this._trackMeta.keys()]) if (!tracks.has(id)) this._removeTrackMeta(id);
    for (const t of tracks.values()) {
      if (this._trackMeta.has(t.id)) this._updateTrackMeta(t);
      else this._addTrackMeta(t);
    }

    // Chat.
    for (const m of j.chat || []) {
      if (m.seq > this._lastChatSeq) this._onChat(m, !resumed);
    }

    if (this.p2p) {
      this._setupP2PAfterJoin(resumed);
    } else {
      if (!this._pub) this._createPub();
      else this._updateIceServers(this._pub);
      if (!this._sub) this._createSub();
      else this._updateIceServers(this._sub);
    }
    this.emit('room', this.info);
  }

  /** @private */
  _onSocketLost() {
    clearInterval(this._pingTimer);
    clearTimeout(this._silenceTimer);
    for (const [id, p] of this._pending) {
      clearTimeout(p.timer);
      p.reject(new SwitchboardError('disconnected', 'connection lost'));
      this._pending.delete(id);
    }
    if (this._closing || this.state === 'disconnected') return;
    this._setState('reconnecting');
    this._resumeLoop();
  }

  /** @private */
  async _resumeLoop() {
    const started = Date.now();
    let attempt = 0;
    while (!this._closing && Date.now() - started < RESUME_WINDOW_MS) {
      const delay = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)];
      attempt += 1;
      await sleep(delay);
      if (this._closing) return;
      try {
        const { joined, early } = await this._openAndJoin(true);
        if (this._closing) return;
        if (joined.resumed === false) {
          // The server made a fresh participant: start media over.
          this._resetMedia();
          this._applyJoined(joined, true);
          this._setState('connected');
          this._handleEarly(early);
          this._republishAll();
        } else {
          this._applyJoined(joined, true);
          this._setState('connected');
          this._handleEarly(early);
          this._flushOutbox();
          this._restartIceIfNeeded();
        }
        return;
      } catch (err) {
        if (['unauthorized', 'token_expired', 'forbidden', 'not_found', 'denied', 'room_locked',
          'room_full', 'unsupported_version'].includes(err.code)) {
          this._closing = true;
          this._teardown('resume-failed', err);
          return;
        }
      }
    }
    if (!this._closing) {
      this._closing = true;
      this._teardown('resume-failed', new SwitchboardError('disconnected', 'could not reconnect'));
    }
  }

  /** @private */
  _flushOutbox() {
    const out = this._outbox;
    this._outbox = [];
    for (const m of out) this._send(m);
  }

  /** @private */
  _restartIceIfNeeded() {
    const bad = (pc) => pc && ['failed', 'disconnected'].includes(pc.iceConnectionState);
    if (this.p2p) {
      if (bad(this._p2p)) this._p2p.restartIce();
      return;
    }
    if (bad(this._pub)) this._restartPubIce();
    if (bad(this._sub)) this._restartSubIce();
  }

  /** @private */
  _restartPubIce() {
    if (!this._pub || !this._local.size) return;
    this._pubIceRestart = true;
    this._negotiatePub().catch((err) => this._emitError(err));
  }

  /** @private */
  _restartSubIce() {
    this._request({ type: 'restart' }).catch((err) => this._emitError(err));
  }

  /** @private */
  _setState(s) {
    if (this.state === s) return;
    this.state = s;
    this.emit('state', s);
  }

  /** @private */
  _teardown(reason, error) {
    if (this.state === 'disconnected') return;
    this._closing = true;
    clearInterval(this._pingTimer);
    clearTimeout(this._silenceTimer);
    clearInterval(this._p2pSpeakerTimer);
    for (const p of this._pending.values()) {
      clearTimeout(p.timer);
      p.reject(new SwitchboardError('disconnected', 'left the room'));
    }
    this._pending.clear();
    for (const list of this._publishWaiters.values()) {
      for (const w of list) w.reject(new SwitchboardError('disconnected', 'left the room'));
    }
    this._publishWaiters.clear();
    if (this._ws) {
      const ws = this._ws;
      this._ws = null;
      ws.onclose = null;
      try { ws.close(1000); } catch { /* ignore */ }
    }
    for (const l of this._local.values()) if (l.owned && l.track) l.track.stop();
    for (const pc of this.pcs) {
      try { pc.close(); } catch { /* ignore */ }
    }
    this._pub = this._sub = this._p2p = null;
    this.disconnectReason = reason;
    this.state = 'disconnected';
    this.emit('state', 'disconnected');
    this.emit('disconnected', { reason, error });
  }

  /** @private */
  _assertLive() {
    if (this.state === 'disconnected') throw new SwitchboardError('disconnected', 'not connected');
  }

  /** @private */
  _emitError(err) {
    if (!(err instanceof SwitchboardError)) err = new SwitchboardError('internal', String(err && err.message || err));
    if (err.code === 'disconnected' && this.state !== 'connected') return;
    this.emit('error', err);
  }

  // ---------------------------------------------------------------------------------------------
  // Participants, tracks, chat
  // ---------------------------------------------------------------------------------------------

  /** @private */
  _participant(id) {
    if (this.localParticipant && id === this.localParticipant.id) return this.localParticipant;
    return this.participants.get(id);
  }

  /** @private */
  _addParticipant(p, announce) {
    if (!p || !p.id) return;
    if (this.localParticipant && p.id === this.localParticipant.id) return;
    if (this.participants.has(p.id)) {
      this._updateParticipant(p);
      return;
    }
    const obj = { id: p.id, name: p.name, host: !!p.host, hand: !!p.hand };
    this.participants.set(p.id, obj);
    if (this.lobby.has(p.id)) this._lobbyRemove(p.id);
    this.emit('participant', obj);
    void announce;
    if (this.p2p && this.state !== 'connecting' && !this._p2p) {
      // We were first; the newcomer offers. Nothing to do until their offer arrives.
      this._p2pPeer = p.id;
    }
  }

  /** @private */
  _updateParticipant(p) {
    if (!p || !p.id) return;
    let obj = this._participant(p.id);
    if (!obj) {
      this._addParticipant(p, true);
      return;
    }
    const before = JSON.stringify([obj.name, obj.host, obj.hand]);
    for (const k of ['name', 'host', 'hand']) if (k in p) obj[k] = k === 'name' ? p[k] : !!p[k];
    if (JSON.stringify([obj.name, obj.host, obj.hand]) !== before) this.emit('participantUpdated', obj);
    if (obj === this.localParticipant && this.permissions && obj.host) this.permissions.moderate = true;
  }

  /** @private */
  _removeParticipant(id, reason) {
    const obj = this.participants.get(id);
    if (!obj) return;
    for (const [tid, m] of [...this._trackMeta]) if (m.participant === id) this._removeTrackMeta(tid);
    if (this.p2p && this._p2pPeer === id) this._closeP2P();
    this.participants.delete(id);
    this.emit('participantLeft', { ...obj, reason });
  }

  /** @private */
  _lobbyRemove(id) {
    const p = this.lobby.get(id);
    if (!p) return;
    this.lobby.delete(id);
    this.emit('lobbyRemoved', p);
  }

  /** @private */
  _trackEvent(id) {
    const m = this._trackMeta.get(id);
    const r = this._remote.get(id);
    return {
      id, track: r?.track, stream: r?.stream, participant: m ? this._participant(m.participant) : undefined,
      source: m?.source, kind: m?.kind || r?.track?.kind, muted: !!m?.muted,
    };
  }

  /** @private */
  _addTrackMeta(t) {
    if (!t || !t.id) return;
    if (this.localParticipant && t.participant === this.localParticipant.id) return;
    this._trackMeta.set(t.id, { ...t });
    this._maybeEmitTrack(t.id);
  }

  /** @private */
  _updateTrackMeta(t) {
    if (!t || !t.id) return;
    const m = this._trackMeta.get(t.id);
    if (!m) {
      this._addTrackMeta(t);
      return;
    }
    const wasMuted = !!m.muted;
    Object.assign(m, t);
    if (wasMuted !== !!m.muted) this.emit('trackUpdated', this._trackEvent(t.id));
  }

  /** @private */
  _removeTrackMeta(id) {
    if (!id) return;
    const r = this._remote.get(id);
    if (r && r.emitted) {
      r.emitted = false;
      this.emit('trackRemoved', this._trackEvent(id));
    }
    this._remote.delete(id);
    this._views.delete(id);
    this._trackMeta.delete(id);
  }

  /** @private */
  _setRemoteTrack(id, track) {
    const existing = this._remote.get(id);
    if (existing && existing.track === track) return;
    if (existing) this._dropRemote(id);
    this._remote.set(id, { id, track, stream: new MediaStream([track]), emitted: false });
    this._maybeEmitTrack(id);
  }

  /** @private */
  _dropRemote(id) {
    const r = this._remote.get(id);
    if (!r) return;
    if (r.emitted) this.emit('trackRemoved', this._trackEvent(id));
    this._remote.delete(id);
  }

  /** @private */
  _maybeEmitTrack(id) {
    const r = this._remote.get(id);
    const m = this._trackMeta.get(id);
    if (!r || !m || r.emitted) return;
    r.emitted = true;
    this.emit('track', this._trackEvent(id));
  }

  /** @private */
  _absFile(f) {
    if (!f) return f;
    const out = { ...f };
    if (out.url) out.url = new URL(out.url, this.baseURL + '/').href;
    return out;
  }

  /** @private */
  _onChat(m, silent) {
    if (!m) return;
    if (typeof m.seq === 'number') {
      if (m.seq <= this._lastChatSeq && this.chatHistory.some((x) => x.seq === m.seq)) return;
      this._lastChatSeq = Math.max(this._lastChatSeq, m.seq);
    }
    const msg = { ...m };
    if (msg.file) msg.file = this._absFile(msg.file);
    this.chatHistory.push(msg);
    if (!silent) this.emit('chat', msg);
  }

  /** @private */
  _onMutedByHost(msg) {
    const tid = msg.track && (msg.track.id || msg.track);
    for (const l of this._local.values()) {
      if (l.serverId === tid || (this.p2p && tid === l.source)) {
        l.muted = true;
        if (l.track) l.track.enabled = false;
        this.emit('muted', { source: l.source, by: msg.by, id: tid });
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // SFU peer connections
  // ---------------------------------------------------------------------------------------------

  /** @private */
  _rtcConfig() {
    const extra = this._opts.rtcConfig || {};
    return {
      bundlePolicy: 'max-bundle',
      ...extra,
      iceServers: [...(this._iceServers || []), ...(extra.iceServers || [])],
    };
  }

  /** @private */
  _updateIceServers(pc) {
    try {
      pc.setConfiguration({ ...pc.getConfiguration(), iceServers: this._rtcConfig().iceServers });
    } catch { /* some fields cannot change; ignore */ }
  }

  /** @private */
  _watchIce(pc, name) {
    pc.addEventListener('iceconnectionstatechange', () => {
      if (pc.iceConnectionState === 'failed' && this.state === 'connected') {
        if (name === 'pub') this._restartPubIce();
        else if (name === 'sub') this._restartSubIce();
        else if (name === 'p2p' && this._p2p === pc) pc.restartIce();
      }
    });
  }

  /** @private */
  _createPub() {
    const pc = new RTCPeerConnection(this._rtcConfig());
    this._pub = pc;
    pc.onicecandidate = (e) => this._sendCandidate('pub', e.candidate);
    this._watchIce(pc, 'pub');
  }

  /** @private */
  _createSub() {
    const pc = new RTCPeerConnection(this._rtcConfig());
    this._sub = pc;
    pc.onicecandidate = (e) => this._sendCandidate('sub', e.candidate);
    pc.ontrack = () => {
      // Tracks are mapped from the SDP after each offer (see _reconcileSub); ontrack alone misses
      // transceivers the server reuses for another track.
    };
    this._watchIce(pc, 'sub');
  }

  /** @private */
  _sendCandidate(pc, c) {
    if (!c || !c.candidate) return;
    this._send({
      type: 'candidate', pc,
      candidate: { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex },
    });
  }

  /** @private */
  _onRemoteCandidate(name, cand) {
    if (!cand || !cand.candidate) return;
    const pc = name === 'pub' ? this._pub : name === 'sub' ? this._sub : null;
    if (!pc) return;
    if (!pc.remoteDescription) {
      this._candQueue[name].push(cand);
      return;
    }
    pc.addIceCandidate(cand).catch((err) => console.warn('switchboard: addIceCandidate', err));
  }

  /** @private */
  async _flushCandidates(name, pc) {
    const q = this._candQueue[name];
    this._candQueue[name] = [];
    for (const c of q) {
      try { await pc.addIceCandidate(c); } catch (err) { console.warn('switchboard: addIceCandidate', err); }
    }
  }

  /**
   * Runs pub negotiation; one offer in flight at a time, re-offering while tracks changed meanwhile.
   * @private
   */
  _negotiatePub() {
    this._pubDirty = true;
    if (!this._pubNegotiation) {
      this._pubNegotiation = this._runPubNegotiation().finally(() => { this._pubNegotiation = null; });
    }
    return this._pubNegotiation;
  }

  /** @private */
  async _runPubNegotiation() {
    while (this._pubDirty) {
      this._pubDirty = false;
      const pc = this._pub;
      if (!pc || pc.signalingState === 'closed') return;
      if (this.state === 'reconnecting') await this._untilState('connected');
      const iceRestart = this._pubIceRestart;
      this._pubIceRestart = false;
      const offer = await pc.createOffer(iceRestart ? { iceRestart: true } : undefined);
      await pc.setLocalDescription(offer);
      const tracks = {};
      for (const l of this._local.values()) {
        if (l.transceiver && l.transceiver.direction !== 'inactive' && l.clientId) tracks[l.clientId] = l.source;
      }
      let res;
      try {
        res = await this._request({ type: 'offer', pc: 'pub', sdp: pc.localDescription.sdp, tracks });
      } catch (err) {
        if (pc.signalingState === 'have-local-offer') {
          await pc.setLocalDescription({ type: 'rollback' }).catch(() => {});
        }
        if (err.code === 'disconnected' && !this._closing) {
          // The socket dropped mid-offer: offer again once resumed.
          this._pubDirty = true;
          if (iceRestart) this._pubIceRestart = true;
          continue;
        }
        throw err;
      }
      await pc.setRemoteDescription({ type: 'answer', sdp: res.sdp });
      await this._flushCandidates('pub', pc);
    }
  }

  /** @private */
  _untilState(s) {
    if (this.state === s) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const off = this.on('state', (st) => {
        if (st === s) { off(); resolve(); }
        else if (st === 'disconnected') { off(); reject(new SwitchboardError('disconnected', 'left the room')); }
      });
    });
  }

  /** @private */
  _waitPublished(clientId) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._cancelPublishWaiter(clientId, new SwitchboardError('timeout', 'the server did not announce the track'));
      }, REQUEST_TIMEOUT_MS * 2);
      const list = this._publishWaiters.get(clientId) || [];
      list.push({
        resolve: (v) => { clearTimeout(timer); resolve(v); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      this._publishWaiters.set(clientId, list);
    });
  }

  /** @private */
  _cancelPublishWaiter(clientId, err) {
    const list = this._publishWaiters.get(clientId);
    this._publishWaiters.delete(clientId);
    for (const w of list || []) w.reject(err);
  }

  /** @private */
  _onPublished(t) {
    if (!t) return;
    let entry = null;
    for (const l of this._local.values()) if (l.clientId && l.clientId === t.clientId) entry = l;
    if (!entry) for (const l of this._local.values()) if (!l.serverId && l.source === t.source && l.sender) entry = l;
    if (entry) {
      entry.serverId = t.id;
      if (entry.muted !== !!t.muted) {
        this._request({ type: 'mute', track: t.id, muted: entry.muted }).catch((err) => this._emitError(err));
      }
      this.emit('published', { source: entry.source, id: t.id, clientId: entry.clientId });
    }
    const key = t.clientId || entry?.clientId;
    const list = this._publishWaiters.get(key);
    this._publishWaiters.delete(key);
    for (const w of list || []) w.resolve(t);
  }

  /** @private */
  _onSubOffer(msg) {
    this._subChain = this._subChain.then(async () => {
      let pc = this._sub;
      if (!pc) {
        this._createSub();
        pc = this._sub;
      }
      try {
        await pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
        await this._flushCandidates('sub', pc);
        this._reconcileSub();
        const answer = await pc.createAnswer();
        await pc.setLocalDescription(answer);
        const out = { type: 'answer', pc: 'sub', sdp: pc.localDescription.sdp };
        if (msg.id) out.id = msg.id;
        this._send(out);
      } catch (err) {
        this._emitError(new SwitchboardError('internal', `subscribe negotiation failed: ${err.message}`));
      }
      this._onSubAnswered();
    });
  }

  /**
   * Maps receiving transceivers to server track ids via the msid track id of each m-section.
   * @private
   */
  _reconcileSub() {
    const pc = this._sub;
    if (!pc || !pc.remoteDescription) return;
    const sections = parseSections(pc.remoteDescription.sdp);
    const seen = new Set();
    for (const tr of pc.getTransceivers()) {
      if (!tr.mid) continue;
      const s = sections.get(tr.mid);
      if (!s || !s.trackId || s.port === 0) continue;
      if (s.direction !== 'sendonly' && s.direction !== 'sendrecv') continue;
      if (!tr.receiver || !tr.receiver.track) continue;
      seen.add(s.trackId);
      this._setRemoteTrack(s.trackId, tr.receiver.track);
    }
    for (const id of [...this._remote.keys()]) if (!seen.has(id)) this._dropRemote(id);
  }

  /** @private */
  _resetMedia() {
    for (const pc of [this._pub, this._sub, this._p2p]) {
      try { pc?.close(); } catch { /* ignore */ }
    }
    this._pub = this._sub = this._p2p = null;
    this._candQueue = { pub: [], sub: [], p2p: [] };
    for (const id of [...this._remote.keys()]) this._dropRemote(id);
    this._views.clear();
    this._outbox = [];
  }

  /** @private */
  _republishAll() {
    const entries = [...this._local.values()].filter((l) => l.track);
    this._local.clear();
    for (const l of entries) {
      l.track.enabled = !l.muted;
      this.publishTrack(l.track, l.source).then(() => {
        const e = this._local.get(l.source);
        if (e) e.owned = l.owned;
      }).catch((err) => this._emitError(err));
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Peer-to-peer rooms
  // ---------------------------------------------------------------------------------------------

  /** @private */
  _relay(data) {
    if (!this._p2pPeer) return;
    this._send({ type: 'relay', to: this._p2pPeer, data });
  }

  /** @private */
  _setupP2PAfterJoin(resumed) {
    const others = [...this.participants.keys()];
    if (resumed && this._p2p) {
      if (!others.includes(this._p2pPeer)) this._closeP2P();
      return;
    }
    if (others.length > 0 && !this._p2p) {
      // We joined second: we make the first offer.
      this._p2pPeer = others[0];
      this._createP2P(false);
    }
    if (!this._p2pSpeakerTimer) this._p2pSpeakerTimer = setInterval(() => this._p2pSpeakers(), 500);
  }

  /**
   * @param {boolean} polite the polite peer (the first joiner) yields on offer collisions
   * @private
   */
  _createP2P(polite) {
    const pc = new RTCPeerConnection(this._rtcConfig());
    this._p2p = pc;
    this._p2pPolite = polite;
    this._p2pMakingOffer = false;
    this._p2pIgnoreOffer = false;
    pc.onicecandidate = (e) => {
      if (e.candidate && e.candidate.candidate) {
        const c = e.candidate;
        this._relay({ candidate: { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex } });
      }
    };
    pc.onnegotiationneeded = async () => {
      if (this._p2p !== pc) return;
      try {
        this._p2pMakingOffer = true;
        await pc.setLocalDescription();
        this._p2pAnnounce();
        this._relay({ sdp: { type: pc.localDescription.type, sdp: pc.localDescription.sdp } });
      } catch (err) {
        console.warn('switchboard: p2p offer', err);
      } finally {
        this._p2pMakingOffer = false;
      }
    };
    pc.ontrack = (e) => {
      const stream = e.streams[0];
      const id = stream ? stream.id : e.track.id;
      const participant = this._p2pPeer;
      const src = this._p2pRemoteSources.get(id) || this._p2pRemoteSources.get(e.track.id) ||
        (e.track.kind === 'audio' ? 'microphone' : 'camera');
      const meta = { id, participant, kind: e.track.kind, source: src, muted: false };
      const prev = this._trackMeta.get(id);
      if (prev) meta.muted = prev.muted;
      this._trackMeta.set(id, meta);
      this._setRemoteTrack(id, e.track);
      const drop = () => {
        if (this._remote.get(id)?.track === e.track) this._removeTrackMeta(id);
      };
      e.track.addEventListener('ended', drop);
      if (stream) stream.addEventListener('removetrack', drop);
    };
    this._watchIce(pc, 'p2p');
    // The second joiner offers first, even before publishing anything: a data channel guarantees an
    // m-section (and so a first offer); tracks added later renegotiate.
    if (!polite) this._p2pChannel = pc.createDataChannel('switchboard');
    for (const l of this._local.values()) if (l.track) this._p2pAddLocal(l);
    return pc;
  }

  /** @private */
  _p2pAddLocal(entry) {
    entry.sender = this._p2p.addTrack(entry.track, entry.stream);
    entry.transceiver = this._p2p.getTransceivers().find((t) => t.sender === entry.sender) || null;
    this._p2pAnnounce();
  }

  /** Tells the peer which of our streams/tracks carry which source. @private */
  _p2pAnnounce() {
    const tracks = {};
    const muted = {};
    for (const l of this._local.values()) {
      if (!l.track) continue;
      tracks[l.stream.id] = l.source;
      tracks[l.clientId] = l.source;
      muted[l.stream.id] = l.muted;
    }
    this._relay({ tracks, mutedTracks: muted });
  }

  /** @private */
  async _onRelay(from, data) {
    if (!this.p2p || !data) return;
    if (!this._p2pPeer) this._p2pPeer = from;
    if (from && from !== this._p2pPeer) return;
    if (data.tracks) {
      for (const [k, v] of Object.entries(data.tracks)) this._p2pRemoteSources.set(k, v);
      for (const [id, m] of this._trackMeta) {
        const src = data.tracks[id];
        if (src && m.source !== src) {
          m.source = src;
          this.emit('trackUpdated', this._trackEvent(id));
        }
      }
    }
    if (data.mutedTracks) {
      for (const [id, muted] of Object.entries(data.mutedTracks)) this._p2pSetRemoteMuted(id, muted);
    }
    if (data.muted) this._p2pSetRemoteMuted(data.muted.id, data.muted.muted);
    if (data.sdp) {
      let pc = this._p2p;
      if (!pc) pc = this._createP2P(true);
      const desc = data.sdp;
      const collision = desc.type === 'offer' && (this._p2pMakingOffer || pc.signalingState !== 'stable');
      this._p2pIgnoreOffer = !this._p2pPolite && collision;
      if (this._p2pIgnoreOffer) return;
      try {
        await pc.setRemoteDescription(desc);
        await this._flushP2PCandidates();
        if (desc.type === 'offer') {
          await pc.setLocalDescription();
          this._p2pAnnounce();
          this._relay({ sdp: { type: pc.localDescription.type, sdp: pc.localDescription.sdp } });
        }
      } catch (err) {
        console.warn('switchboard: p2p negotiation', err);
      }
    }
    if (data.candidate) {
      const pc = this._p2p;
      if (!pc || !pc.remoteDescription) {
        this._candQueue.p2p.push(data.candidate);
        return;
      }
      try {
        await pc.addIceCandidate(data.candidate);
      } catch (err) {
        if (!this._p2pIgnoreOffer) console.warn('switchboard: p2p candidate', err);
      }
    }
  }

  /** @private */
  _p2pSetRemoteMuted(id, muted) {
    const m = this._trackMeta.get(id);
    if (!m) {
      this._trackMeta.set(id, { id, participant: this._p2pPeer, muted: !!muted, source: this._p2pRemoteSources.get(id) });
      this._trackMeta.get(id).pending = true;
      return;
    }
    if (!!m.muted !== !!muted) {
      m.muted = !!muted;
      this.emit('trackUpdated', this._trackEvent(id));
    }
  }

  /** @private */
  async _flushP2PCandidates() {
    const q = this._candQueue.p2p;
    this._candQueue.p2p = [];
    for (const c of q) {
      try { await this._p2p.addIceCandidate(c); } catch { /* ignore */ }
    }
  }

  /** @private */
  _closeP2P() {
    const pc = this._p2p;
    this._p2p = null;
    this._p2pPeer = null;
    this._p2pRemoteSources.clear();
    this._candQueue.p2p = [];
    for (const id of [...this._remote.keys()]) this._removeTrackMeta(id);
    for (const [id, m] of [...this._trackMeta]) if (m.pending) this._trackMeta.delete(id);
    for (const l of this._local.values()) { l.sender = null; l.transceiver = null; }
    try { pc?.close(); } catch { /* ignore */ }
  }

  /** In peer-to-peer rooms the server sees no media: derive active speakers from audio levels. @private */
  async _p2pSpeakers() {
    const pc = this._p2p;
    if (!pc || this.state !== 'connected') return;
    try {
      const levels = [];
      const stats = await pc.getStats();
      let remote = 0;
      let local = 0;
      stats.forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'audio' && typeof s.audioLevel === 'number') remote = Math.max(remote, s.audioLevel);
        if (s.type === 'media-source' && s.kind === 'audio' && typeof s.audioLevel === 'number') local = Math.max(local, s.audioLevel);
      });
      if (this.isMuted('microphone')) local = 0;
      if (remote > 0.02 && this._p2pPeer) levels.push([this._p2pPeer, remote]);
      if (local > 0.02 && this.localParticipant) levels.push([this.localParticipant.id, local]);
      levels.sort((a, b) => b[1] - a[1]);
      const ids = levels.map((l) => l[0]);
      if (JSON.stringify(ids) !== JSON.stringify(this.speakers)) {
        this.speakers = ids;
        this.emit('speakers', ids);
      }
    } catch { /* closed */ }
  }
}

/**
 * Parses an SDP into its media sections by mid: `{port, direction, streamId, trackId}`.
 * @param {string} sdp
 * @returns {Map<string, {port:number, direction:string, streamId:string|null, trackId:string|null}>}
 */
export function parseSections(sdp) {
  const out = new Map();
  const parts = sdp.split(/\r?\n(?=m=)/);
  for (const part of parts) {
    if (!part.startsWith('m=')) continue;
    const lines = part.split(/\r?\n/);
    const port = parseInt(lines[0].split(' ')[1], 10);
    let mid = null;
    let direction = 'sendrecv';
    let streamId = null;
    let trackId = null;
    for (const line of lines) {
      if (line.startsWith('a=mid:')) mid = line.slice(6).trim();
      else if (/^a=(sendrecv|sendonly|recvonly|inactive)$/.test(line.trim())) direction = line.trim().slice(2);
      else if (line.startsWith('a=msid:') && !streamId) {
        const [s, t] = line.slice(7).trim().split(/\s+/);
        streamId = s && s !== '-' ? s : null;
        trackId = t || null;
      } else if (!streamId && /^a=ssrc:\d+ msid:/.test(line)) {
        const [s, t] = line.replace(/^a=ssrc:\d+ msid:/, '').trim().split(/\s+/);
        streamId = s || null;
        trackId = t || null;
      }
    }
    if (mid !== null) out.set(mid, { port, direction, streamId, trackId });
  }
  return out;
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// Messaging (conversations, presence, calls between people): see messaging.js. MessagingClient is read
// through a getter because the two modules import each other.
export { signIn, MessagingClient };

export default {
  connect, Room, SwitchboardError, PROTOCOL_VERSION, signIn,
  get MessagingClient() { return MessagingClient; },
};

/**
 * Switchboard messaging SDK: conversations, messages, receipts, typing, presence and calls between
 * people, for a signed-in person (docs/sdk.md, "Messaging").
 *
 * One ES module, no dependencies besides its sibling `switchboard.js` (the meetings SDK, used to join a
 * call's media room). It speaks the messaging protocol on `GET /api/v1/connect`: one WebSocket per
 * device, requests with an `id` and their replies, and events.
 *
 * The stored log is the source of truth; the socket only speeds delivery. Every conversation has a
 * gap-free sequence of log entries (`seq` 1, 2, 3...). The client keeps, per conversation, the last seq
 * it applied (`cursor`), applies entries strictly in order, ignores those it has already applied, and
 * when it sees a gap (or after any reconnect) asks for everything after its cursor with `sync` until the
 * server says there is no more. Sends carry a client transaction id (`txn`); a send that was not
 * acknowledged is sent again with the same txn after a reconnect, and the server stores it once.
 *
 * @example
 * import Switchboard from 'https://chat.example.com/sdk/switchboard.js';
 * const client = await Switchboard.signIn('https://chat.example.com');
 * client.on('message', (msg, conv) => console.log(conv.title, msg.text));
 * const dm = await client.direct(userId);
 * await client.send(dm.id, 'Hello!');
 *
 * @module switchboard/messaging
 */
import { connect, SwitchboardError } from './switchboard.js';
import { Emitter } from './emitter.js';
import { Phone } from './phone.js';

const REQUEST_TIMEOUT_MS = 15000;
const PING_INTERVAL_MS = 20000;
const PONG_TIMEOUT_MS = 10000;
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000, 30000];
const TYPING_SEND_EVERY_MS = 3000;
const TYPING_SHOWN_MS = 6000;
const DELIVERED_DELAY_MS = 400;
const SEND_RETRY_MS = 2000;
/** A reconnect that missed more than this many entries of a conversation whose messages were never
 * loaded skips them instead of syncing them one by one: history loads them when needed. */
const MAX_CATCH_UP = 500;
const ORPHAN_WAIT_MS = 2000;

/** Statuses a person may choose (the server also reports `in_call` and `offline`). */
export const STATUSES = ['available', 'away', 'busy', 'dnd'];

function makeError(code, message) {
  return new SwitchboardError(code, message);
}

function randomId() {
  if (typeof crypto !== 'undefined' && crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
}


/**
 * @typedef {Object} Message
 * A log entry of kind `text`, `call` or `system`, as the server describes it (docs/protocol.md). The
 * SDK updates the object in place when it is edited, deleted, reacted to or replied to.
 * @property {string} conversation
 * @property {number} seq            Position in the conversation's log.
 * @property {'text'|'call'|'system'} kind
 * @property {string} sender         User id.
 * @property {string} [txn]          The sender's transaction id.
 * @property {string} [text]         Plain text: render it with textContent, never as HTML.
 * @property {number} [thread]       The thread root this message replies in.
 * @property {number} [reply]        The message this one quotes.
 * @property {Object} [data]         `attachments` [{id, name, size, type, url, thumb}], `mentions` (user ids),
 *                                   `everyone`; for calls {call, outcome, duration, video, group}; for
 *                                   system entries {action, ...}.
 * @property {string} at             RFC 3339 time.
 * @property {string} [editedAt]
 * @property {string} [deletedAt]
 * @property {{user: string, emoji: string}[]} reactions
 * @property {number} [replies]      Messages in the thread this one is the root of.
 */

/**
 * A conversation: a direct conversation between two people, a group, or a channel. The client keeps
 * one object per conversation and updates it in place.
 */
export class Conversation {
  /**
   * @param {MessagingClient} client
   * @param {Object} info the server's ConversationInfo
   */
  constructor(client, info) {
    Object.defineProperty(this, 'client', { value: client, enumerable: false });
    /** @type {string} */
    this.id = info.id;
    /** @type {'direct'|'group'|'channel'} */
    this.kind = info.kind;
    this.name = '';
    this.topic = '';
    this.createdBy = '';
    this.muted = false;
    this.archived = false;
    /** Highest seq of the log that the client knows of. */
    this.lastSeq = 0;
    /** Our read cursor: entries up to here are read. */
    this.readSeq = 0;
    /** Unread messages from others. */
    this.unread = 0;
    this.lastActivity = '';
    /** @type {Map<string, {user: string, role: string, read: number, delivered: number}>} members by user id */
    this.members = new Map();
    /** @type {Message[]} the main timeline loaded so far (thread replies excluded), oldest first */
    this.messages = [];
    /** Whether older history than `messages[0]` may exist. */
    this.hasMore = true;
    /** @type {Map<number, Message[]>} replies of threads loaded with `thread()`, by root seq */
    this.threads = new Map();
    /** @type {{txn: string, text: string, thread?: number, reply?: number, files?: string[], state: 'sending'|'failed', error?: Error, at: string}[]} */
    this.pending = [];
    /** @type {Map<string, number>} who is typing: user id → when it expires (ms since epoch) */
    this.typing = new Map();
    /** The last seq applied (the sync cursor). */
    this.cursor = info.lastSeq || 0;
    this._wanted = 0;
    this._syncing = null;
    this._resync = false;
    this._deliveredSent = 0;
    this._readSent = 0;
    this._typingSentAt = 0;
    this._countedTo = 0;
    this._update(info, true);
  }

  /**
   * @private
   * @param {Object} info the server's ConversationInfo
   * @param {boolean} [inbox] from `ready`: its unread count is the server's. Other conversation
   *   messages (a rename, a new member) say 0 and are ignored for it.
   */
  _update(info, inbox = false) {
    this.kind = info.kind || this.kind;
    this.name = info.name || '';
    this.topic = info.topic || '';
    this.createdBy = info.createdBy || this.createdBy;
    this.muted = !!info.muted;
    this.archived = !!info.archived;
    this.lastSeq = Math.max(this.lastSeq, info.lastSeq || 0);
    if (typeof info.readSeq === 'number') this.readSeq = Math.max(this.readSeq, info.readSeq);
    if (inbox && typeof info.unread === 'number') {
      this.unread = info.unread;
      this._countedTo = info.lastSeq || 0; // entries up to here are in that count
    }
    if (info.lastActivity) this.lastActivity = info.lastActivity;
    if (Array.isArray(info.members)) {
      const next = new Map();
      for (const m of info.members) {
        const old = this.members.get(m.user);
        next.set(m.user, { user: m.user, role: m.role, read: Math.max(m.read || 0, old?.read || 0), delivered: Math.max(m.delivered || 0, old?.delivered || 0) });
      }
      this.members = next;
    }
  }

  /** For a direct conversation, the other person's user id. */
  get peer() {
    if (this.kind !== 'direct') return null;
    const me = this.client.me?.id;
    for (const id of this.members.keys()) if (id !== me) return id;
    return me || null;
  }

  /** A title to show: the name of a group or channel, the other person's name in a direct conversation. */
  get title() {
    if (this.kind === 'direct') return this.client.displayName(this.peer);
    return this.name || 'Untitled';
  }

  /** The newest loaded message of the main timeline, or null. */
  get lastMessage() {
    return this.messages.length ? this.messages[this.messages.length - 1] : null;
  }

  /**
   * The loaded message with this seq (main timeline or a loaded thread), or null.
   * @param {number} seq
   * @returns {Message|null}
   */
  message(seq) {
    const i = indexOfSeq(this.messages, seq);
    if (i >= 0) return this.messages[i];
    for (const list of this.threads.values()) {
      const j = indexOfSeq(list, seq);
      if (j >= 0) return list[j];
    }
    return null;
  }

  /** User ids of the people typing now (excluding us). */
  typingUsers() {
    const now = Date.now();
    const out = [];
    for (const [u, until] of this.typing) if (until > now) out.push(u);
    return out;
  }

  /**
   * The receipt state of our message `seq`: `'read'` when every other member read it, `'delivered'`
   * when every other member's device received it, else `'sent'`.
   * @param {number} seq
   */
  receiptState(seq) {
    const me = this.client.me?.id;
    let all = 0;
    let read = 0;
    let delivered = 0;
    for (const m of this.members.values()) {
      if (m.user === me) continue;
      all += 1;
      if (m.read >= seq) read += 1;
      if (m.delivered >= seq || m.read >= seq) delivered += 1;
    }
    if (all > 0 && read === all) return 'read';
    if (all > 0 && delivered === all) return 'delivered';
    return 'sent';
  }

  /** User ids of the other members who have read up to `seq`. @param {number} seq */
  seenBy(seq) {
    const me = this.client.me?.id;
    const out = [];
    for (const m of this.members.values()) if (m.user !== me && m.read >= seq) out.push(m.user);
    return out;
  }
}

/** Binary search by seq in a list sorted by seq; -1 when absent. */
function indexOfSeq(list, seq) {
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = list[mid].seq;
    if (s === seq) return mid;
    if (s < seq) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** Inserts msg into a list sorted by seq; returns false if one with its seq is there already. */
function insertBySeq(list, msg) {
  if (!list.length || list[list.length - 1].seq < msg.seq) {
    list.push(msg);
    return true;
  }
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid].seq < msg.seq) lo = mid + 1;
    else hi = mid;
  }
  if (list[lo] && list[lo].seq === msg.seq) return false;
  list.splice(lo, 0, msg);
  return true;
}

/** Normalises a log entry into a Message object. */
function toMessage(e) {
  const m = { ...e };
  if (!Array.isArray(m.reactions)) m.reactions = [];
  if (m.data && typeof m.data !== 'object') m.data = undefined;
  return m;
}

/**
 * A call between people. Outgoing calls come from {@link MessagingClient#call}; incoming ones from the
 * client's `incomingCall` event.
 *
 * Events: `state` (the call) whenever `state` changes; `ended` ({reason, duration}); `room` (Room)
 * when `join()` connected (again, if the call moved to another room when someone was added); `dtmf`
 * (digit) when a key is pressed on the telephone in a call with one.
 *
 * A call with a telephone has more states: `early` (its room carries ringback before the answer: `join()`
 * enters it at once), `held` and `active` (hold and resume, `heldBy` a user id or `'phone'`) and
 * `transferring` (a transfer that fails brings the call back with the `transferFailed` event); `hold()`,
 * `resume()` and `transfer(target)` drive them. {@link Phone} wraps such calls
 * with media handling (`client.phone`).
 */
export class Call extends Emitter {
  /**
   * @param {MessagingClient} client
   * @param {Object} info the server's CallInfo
   * @param {boolean} incoming
   */
  constructor(client, info, incoming) {
    super('switchboard messaging');
    Object.defineProperty(this, 'client', { value: client, enumerable: false });
    this.id = info.id;
    this.conversation = info.conversation;
    /** The caller's user id. */
    this.from = info.from;
    this.video = !!info.video;
    this.group = !!info.group;
    this.invited = info.invited || [];
    /** The extension called, for a call to a desk phone; the caller's number for a call from one ('' otherwise). */
    this.phone = info.phone || '';
    /** The telephone's display name, when known. */
    this.phoneName = info.phoneName || '';
    /** Whether the telephone call is on hold, and who held it (a user id, or 'phone'). */
    this.held = false;
    this.heldBy = '';
    /** Keys pressed on the telephone in this call so far (also the `dtmf` event, with each digit). */
    this.keys = '';
    /** Whether someone else called us. */
    this.incoming = incoming;
    /** @type {'ringing'|'early'|'accepted'|'held'|'active'|'transferring'|'ended'} */
    this.state = 'ringing';
    /** Why it ended: answered_elsewhere, declined, busy, no_answer, cancelled, hangup, failed, transferred. */
    this.reason = '';
    /** The meeting room to join once accepted, its join token, and whether it is peer-to-peer. */
    this.room = '';
    this.token = '';
    this.p2p = false;
    /** Seconds, when an answered call ends. */
    this.duration = 0;
    /** @type {import('./switchboard.js').Room|null} the meetings Room once joined */
    this.meeting = null;
    this._joinOptions = null;
    this._joining = null;
  }

  /** Answer an incoming call (on this device). */
  async answer() {
    await this.client.request({ type: 'call.answer', call: this.id });
  }

  /** Decline an incoming call (every device of ours stops ringing). */
  async decline() {
    await this.client.request({ type: 'call.decline', call: this.id });
  }

  /** Hang up (or cancel while ringing) and leave the media room. */
  async hangup() {
    const meeting = this.meeting;
    this.meeting = null;
    try {
      if (this.state !== 'ended') await this.client.request({ type: 'call.hangup', call: this.id });
    } finally {
      if (meeting) await meeting.leave().catch(() => {});
      // Leaving a group call that goes on: the server tells the others, not us.
      if (this.state !== 'ended') this.client._onCallState({ call: this.id, state: 'ended', reason: 'hangup' });
    }
  }

  /**
   * Send keypad tones (RFC 4733 telephone-events, e.g. for a phone menu): `0`-`9`, `*`, `#`, `A`-`D`, and
   * `,` for a 2 s pause. Works once joined and publishing audio in a call with a telephone (or any room
   * whose audio negotiated telephone-event). Throws `invalid_state` otherwise.
   * @param {string} tones
   * @param {{duration?: number, gap?: number}} [options] milliseconds per tone (default 100) and between tones (70)
   */
  sendDTMF(tones, { duration = 100, gap = 70 } = {}) {
    for (const pc of this.meeting?.pcs || []) {
      for (const s of pc.getSenders()) {
        if (s.track && s.track.kind === 'audio' && s.dtmf) {
          if (!s.dtmf.canInsertDTMF) throw makeError('invalid_state', 'this call does not carry keypad tones');
          s.dtmf.insertDTMF(tones, duration, gap);
          return;
        }
      }
    }
    throw makeError('invalid_state', 'not sending audio in this call (join and publish first)');
  }

  /** Put the telephone in this call on hold (`invalid_state` for calls without one). */
  async hold() {
    await this.client.request({ type: 'call.hold', call: this.id });
  }

  /** Take the telephone in this call off hold. */
  async resume() {
    await this.client.request({ type: 'call.resume', call: this.id });
  }

  /**
   * Hand the telephone in this call over to `target` (blind transfer): a number, an extension, a username
   * or a `sip:` address. The call then ends with reason `transferred`.
   * @param {string} target
   */
  async transfer(target) {
    await this.client.request({ type: 'call.transfer', call: this.id, target });
  }

  /** Whether the call has a room to be in now: answered, or early media from a telephone. */
  get joinable() {
    return !!this.room && this.state !== 'ringing' && this.state !== 'ended';
  }

  /** Ring more people into the call (escalation; a two-party call moves to a meeting room). @param {string[]} users */
  async add(users) {
    await this.client.request({ type: 'call.add', call: this.id, users });
  }

  /**
   * Join the call's media room with the meetings SDK once the call is accepted (waits for that), and
   * resolve with the {@link import('./switchboard.js').Room}. `options` are passed to `connect()`
   * (e.g. `rtcConfig`, `debug`); room and token come from the call.
   * @param {Object} [options]
   */
  async join(options = {}) {
    this._joinOptions = options;
    if (this.state === 'ended') throw makeError('invalid_state', 'the call has ended');
    if (!this.joinable) {
      await new Promise((resolve, reject) => {
        const off = this.on('state', () => {
          if (this.joinable) { off(); resolve(); }
          if (this.state === 'ended') { off(); reject(makeError('invalid_state', `the call ended: ${this.reason}`)); }
        });
      });
    }
    return this._connect();
  }

  /** @private */
  async _connect() {
    if (this._joining && this._joining.room === this.room) return this._joining.promise;
    const roomId = this.room;
    const promise = (async () => {
      const old = this.meeting;
      this.meeting = null;
      if (old) await old.leave().catch(() => {});
      const room = await connect(this.client.baseURL, {
        ...(this._joinOptions || {}), room: roomId, token: this.token, name: this.client.me?.displayName,
      });
      if (this.state === 'ended' || this.room !== roomId) {
        await room.leave().catch(() => {});
        throw makeError('invalid_state', 'the call ended or moved while joining');
      }
      this.meeting = room;
      this.emit('room', room);
      return room;
    })();
    this._joining = { room: roomId, promise };
    try {
      return await promise;
    } finally {
      if (this._joining && this._joining.promise === promise) this._joining = null;
    }
  }

  /** @private the server's call.state */
  _state(m) {
    if (this.state === 'ended') return;
    const movedRoom = m.state === 'accepted' && this.room && m.room && m.room !== this.room;
    this.state = m.state;
    if (m.reason && m.state === 'ended') this.reason = m.reason;
    if (m.room) this.room = m.room;
    if (m.token) this.token = m.token;
    if (m.state === 'accepted') this.p2p = !!m.p2p;
    if (m.state === 'held' || m.state === 'active') {
      this.held = m.state === 'held';
      this.heldBy = this.held ? (m.by || '') : '';
    }
    if (m.duration) this.duration = m.duration;
    if (m.reason === 'phone_transferred' && m.phone) { // the telephone handed the call to another one
      this.phone = m.phone;
      this.phoneName = m.phoneName || '';
      this.emit('phoneTransferred', { phone: this.phone, phoneName: this.phoneName });
    }
    this.emit('state', this);
    if (m.reason === 'transfer_failed') this.emit('transferFailed', { by: m.by || '' });
    if (movedRoom && this.meeting) this._connect().catch((err) => this.emit('error', err));
    if (m.state === 'ended') {
      const meeting = this.meeting;
      this.meeting = null;
      if (meeting) meeting.leave().catch(() => {});
      this.emit('ended', { reason: this.reason, duration: this.duration });
    }
  }
}

/**
 * @typedef {Object} ClientOptions
 * @property {string} [token]      A personal API token (`sbu_...`) for bots. Sent as `Authorization:
 *                                 Bearer`: browsers cannot put headers on a WebSocket, so in a browser sign in
 *                                 and use the cookie session instead; in Node pass `WebSocket` (e.g. from the
 *                                 `ws` package, or Node's own, which accepts `{headers}`).
 * @property {string} [visitorToken] A website visitor's token (`sbv_...`, from the customer-contact
 *                                 visitor API): works in a browser, on any origin the widget allows.
 * @property {string} [csrfToken]  The session's CSRF token (from `GET /api/v1/auth/session`); fetched when missing.
 * @property {Function} [WebSocket] WebSocket constructor (default: the global one).
 * @property {Function} [fetch]    fetch implementation (default: the global one).
 * @property {boolean} [debug]     Log every frame to the console.
 */

/**
 * A signed-in device's messaging connection. Create it with {@link signIn}, or with
 * `new MessagingClient(baseURL, options)` followed by `await client.connect()`.
 *
 * Events (`client.on(name, fn)` returns an unsubscribe function):
 * - `ready` (): connected and caught up (after every reconnect too).
 * - `connection` ('connecting'|'connected'|'reconnecting'|'closed'|'unauthorized').
 * - `conversation` (Conversation, {removed}): a conversation appeared, changed (name, members, unread,
 *   read cursor, mute...) or went away.
 * - `message` (Message, Conversation): a new text, call or system message (also our own, and thread
 *   replies: `msg.thread` is set).
 * - `update` (Message, Conversation): a message was edited, deleted, reacted to or got a thread reply.
 * - `history` (Conversation): older messages were loaded into `conversation.messages`.
 * - `pending` (Conversation): `conversation.pending` (unacknowledged sends) changed.
 * - `receipt` ({conversation, user, read, delivered}): a member's cursors moved.
 * - `typing` ({conversation, user, typing}): someone started (or stopped) typing.
 * - `presence` ({[userId]: {status, text}}): presence changed.
 * - `incomingCall` (Call): someone calls us.
 * - `call` (Call): a call's state changed.
 * - `error` (SwitchboardError): an error not tied to a request of ours.
 */
export class MessagingClient extends Emitter {
  /**
   * @param {string} baseURL the server's address; '' for this page's origin
   * @param {ClientOptions} [options]
   */
  constructor(baseURL = '', options = {}) {
    super('switchboard messaging');
    const loc = typeof location !== 'undefined' ? location.href : 'http://localhost/';
    const base = new URL(baseURL || '/', loc);
    /** The server's origin. */
    this.baseURL = base.origin;
    this._wsURL = options.wsURL || `${base.protocol === 'https:' ? 'wss:' : 'ws:'}//${base.host}/api/v1/connect`;
    this._opts = options;
    this._token = options.token || options.visitorToken || '';
    /** A website visitor (customer contact): their token goes in the socket's URL, and no cookies. */
    this._visitor = !!options.visitorToken;
    this._csrf = options.csrfToken || '';
    this._WS = options.WebSocket || (typeof WebSocket !== 'undefined' ? WebSocket : null);
    if (this._token && !this._visitor && !options.WebSocket && typeof document !== 'undefined') {
      throw makeError('bad_request', 'a browser cannot send a token on a WebSocket: sign in and use the session cookie (signIn(baseURL))');
    }
    this._fetchImpl = options.fetch || (typeof fetch !== 'undefined' ? fetch.bind(globalThis) : null);

    /** @type {'idle'|'connecting'|'connected'|'reconnecting'|'closed'|'unauthorized'} */
    this.state = 'idle';
    /** @type {{id: string, username: string, displayName: string, role: string}|null} who we are */
    this.me = options.user ? { id: options.user.id, username: options.user.username, displayName: options.user.displayName, role: options.user.role } : null;
    /** This connection's device id. */
    this.device = '';
    /** @type {Map<string, Conversation>} our conversations by id */
    this.conversations = new Map();
    /** @type {Map<string, {status: string, text?: string}>} presence of the people we share a conversation with */
    this.presence = new Map();
    /** Whether the server shows presence at all (an admin setting). */
    this.presenceEnabled = true;
    /** @type {Map<string, {id: string, username: string, displayName: string, role: string, disabled?: boolean}>} the directory, by id (see `loadUsers`) */
    this.users = new Map();
    /** @type {Map<string, Call>} calls in progress by id */
    this.calls = new Map();
    this._phone = null;

    this._ws = null;
    this._nextId = 0;
    /** @type {Map<string, {resolve: Function, reject: Function, timer: any, send?: Object}>} */
    this._pending = new Map();
    /** Requests waiting for a connection. */
    this._queue = [];
    /** Sends not acknowledged yet, in order. */
    this._outbox = [];
    this._closed = false;
    this._attempt = 0;
    this._retryTimer = null;
    this._pingTimer = null;
    this._pongTimer = null;
    this._firstReady = null;
    this._deliveredTimers = new Map();
    this._orphans = new Map();
    this._earlyCallStates = new Map();
    this._typingTimers = new Map();
    this._onOnline = () => {
      if (this.state === 'reconnecting') this._reconnectNow();
    };
    if (typeof addEventListener === 'function') addEventListener('online', this._onOnline);
  }

  // -------------------------------------------------------------------------------------------
  // Connection

  /**
   * Connects and resolves once the server's `ready` arrived (the conversations are known). Rejects
   * with `unauthorized` when we are not signed in, `network` when the server cannot be reached.
   */
  async connect() {
    if (this.state === 'connected') return this;
    if (!this._firstReady) {
      this._firstReady = {};
      this._firstReady.promise = new Promise((resolve, reject) => {
        this._firstReady.resolve = resolve;
        this._firstReady.reject = reject;
      });
    }
    this._closed = false;
    if (!this._token && !this._csrf) {
      // The CSRF token is needed for REST calls that change state; the session endpoint also tells
      // whether we are signed in at all.
      const s = await this._fetchJSON('/api/v1/auth/session');
      this._csrf = s.csrfToken;
      if (s.user) this.me = { id: s.user.id, username: s.user.username, displayName: s.user.displayName, role: s.user.role };
    }
    this._open();
    await this._firstReady.promise;
    return this;
  }

  /** Closes the connection for good (pending sends are rejected). */
  close() {
    this._closed = true;
    this._setState('closed');
    clearTimeout(this._retryTimer);
    this._stopPing();
    if (typeof removeEventListener === 'function') removeEventListener('online', this._onOnline);
    if (this._ws) {
      try { this._ws.close(1000, 'closed'); } catch { /* ignore */ }
      this._ws = null;
    }
    const err = makeError('disconnected', 'the client was closed');
    for (const p of this._pending.values()) { clearTimeout(p.timer); p.reject(err); }
    this._pending.clear();
    for (const q of this._queue) q.reject(err);
    this._queue = [];
    for (const s of this._outbox) s.reject(err);
    this._outbox = [];
    for (const c of this.conversations.values()) c.pending = [];
    if (this._firstReady && !this._firstReady.done) this._firstReady.reject(err);
  }

  /** Signs out (ends the cookie session) and closes the connection. */
  async signOut() {
    try {
      await this._fetchJSON('/api/v1/auth/logout', { method: 'POST' });
    } finally {
      this.close();
    }
  }

  /** @private */
  _setState(s) {
    if (this.state === s) return;
    this.state = s;
    this.emit('connection', s);
  }

  /** @private */
  _open() {
    if (this._closed || !this._WS) {
      if (!this._WS) this._firstReady?.reject(makeError('network', 'no WebSocket implementation'));
      return;
    }
    this._setState(this._attempt === 0 && !this._everReady ? 'connecting' : 'reconnecting');
    let ws;
    try {
      if (this._visitor) ws = new this._WS(`${this._wsURL}?access_token=${encodeURIComponent(this._token)}`);
      else if (this._token) ws = new this._WS(this._wsURL, { headers: { Authorization: `Bearer ${this._token}` } });
      else ws = new this._WS(this._wsURL);
    } catch (err) {
      this._scheduleReconnect();
      return;
    }
    this._ws = ws;
    let opened = false;
    ws.onopen = () => { opened = true; };
    ws.onmessage = (ev) => {
      if (ws !== this._ws) return;
      let msg;
      try {
        msg = JSON.parse(typeof ev.data === 'string' ? ev.data : String(ev.data));
      } catch {
        return;
      }
      if (this._opts.debug) console.debug('messaging <', msg);
      this._onMessage(msg);
    };
    ws.onclose = () => {
      if (ws !== this._ws) return;
      this._ws = null;
      this._stopPing();
      this._connectionLost(opened);
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  /** @private the socket closed: fail what cannot be retried, keep sends for the next connection. */
  _connectionLost(opened) {
    const err = makeError('disconnected', 'the connection closed before an answer');
    for (const [id, p] of this._pending) {
      clearTimeout(p.timer);
      if (!p.send) p.reject(err);
      this._pending.delete(id);
    }
    for (const s of this._outbox) s.inFlight = false;
    if (this._closed) return;
    if (!opened && (!this._everReady || this._attempt >= 2)) {
      // The socket could not be opened: perhaps we are not signed in (any more). The REST API can say.
      this._checkAuth();
    }
    this._scheduleReconnect();
  }

  /** @private */
  async _checkAuth() {
    try {
      await this._fetchJSON(this._visitor ? '/api/v1/contact/visitor/contact' : '/api/v1/auth/session');
    } catch (err) {
      if (err.status === 401) {
        this._closed = true;
        clearTimeout(this._retryTimer);
        this._setState('unauthorized');
        if (this._firstReady && !this._firstReady.done) this._firstReady.reject(makeError('unauthorized', 'sign in first'));
      }
    }
  }

  /** @private */
  _scheduleReconnect() {
    if (this._closed) return;
    this._setState('reconnecting');
    const base = BACKOFF_MS[Math.min(this._attempt, BACKOFF_MS.length - 1)];
    this._attempt += 1;
    const delay = base / 2 + Math.random() * base / 2;
    clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(() => this._open(), delay);
  }

  /** @private */
  _reconnectNow() {
    clearTimeout(this._retryTimer);
    if (!this._ws) this._open();
  }

  /** @private keepalive: a ping request every 20 s; no pong within 10 s means the socket is dead. */
  _startPing() {
    this._stopPing();
    this._pingTimer = setInterval(() => {
      if (!this._ws || this.state !== 'connected') return;
      const id = this._id();
      this._raw({ type: 'ping', id });
      clearTimeout(this._pongTimer);
      this._pongTimer = setTimeout(() => {
        if (this._ws) {
          try { this._ws.close(); } catch { /* ignore */ }
        }
      }, PONG_TIMEOUT_MS);
      this._pending.set(id, { resolve: () => clearTimeout(this._pongTimer), reject: () => {}, timer: null });
    }, PING_INTERVAL_MS);
  }

  /** @private */
  _stopPing() {
    clearInterval(this._pingTimer);
    clearTimeout(this._pongTimer);
  }

  /** @private */
  _id() {
    this._nextId += 1;
    return `m${this._nextId}`;
  }

  /** @private */
  _raw(msg) {
    if (this._opts.debug) console.debug('messaging >', msg);
    try {
      this._ws.send(JSON.stringify(msg));
      return true;
    } catch {
      return false;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Requests

  /**
   * Sends a request of the messaging protocol and resolves with the server's reply (rejects with a
   * SwitchboardError carrying the server's code). Requests made while disconnected wait for the
   * connection. Prefer the typed methods; this is for what they do not cover.
   * @param {Object} msg e.g. `{type: 'channels'}`
   * @param {{timeout?: number}} [opts]
   * @returns {Promise<Object>}
   */
  request(msg, opts = {}) {
    return new Promise((resolve, reject) => {
      const job = { msg, resolve, reject, timeout: opts.timeout || REQUEST_TIMEOUT_MS };
      if (this._closed) {
        reject(makeError('disconnected', 'the client is closed'));
        return;
      }
      if (this.state !== 'connected') {
        // Wait for the connection, but not for ever.
        job.waitTimer = setTimeout(() => {
          this._queue = this._queue.filter((q) => q !== job);
          reject(makeError('timeout', 'not connected to the server'));
        }, job.timeout);
        this._queue.push(job);
        return;
      }
      this._transmit(job);
    });
  }

  /** @private */
  _transmit(job) {
    clearTimeout(job.waitTimer);
    const id = this._id();
    const timer = setTimeout(() => {
      this._pending.delete(id);
      job.reject(makeError('timeout', `no answer to ${job.msg.type} within ${job.timeout / 1000} s`));
    }, job.timeout);
    this._pending.set(id, { resolve: job.resolve, reject: job.reject, timer });
    if (!this._raw({ ...job.msg, id })) {
      clearTimeout(timer);
      this._pending.delete(id);
      job.reject(makeError('disconnected', 'the connection is closed'));
    }
  }

  /** @private */
  _flushQueue() {
    const q = this._queue;
    this._queue = [];
    for (const job of q) this._transmit(job);
  }

  // -------------------------------------------------------------------------------------------
  // Incoming frames

  /** @private */
  _onMessage(msg) {
    switch (msg.type) {
      case 'ready': this._onReady(msg); return;
      case 'event': this._onEvent(msg.entry); return;
      case 'conversation': this._onConversation(msg.conversation); break;
      case 'removed': this._onRemoved(msg.conversation); return;
      case 'receipt': this._onReceipt(msg); return;
      case 'typing': this._onTyping(msg); return;
      case 'presence': this._onPresence(msg.users || {}); return;
      case 'call.incoming': this._onIncomingCall(msg.call); return;
      case 'call.state': this._onCallState(msg); return;
      case 'call.dtmf': {
        const call = this.calls.get(msg.call);
        if (call && typeof msg.digit === 'string') {
          call.keys += msg.digit;
          call.emit('dtmf', msg.digit);
        }
        return;
      }
      case 'contact': this.emit('contact', msg); return;
      default:
    }
    if (msg.id && this._pending.has(msg.id)) {
      const p = this._pending.get(msg.id);
      this._pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.type === 'error') {
        const err = makeError(msg.code || 'error', msg.message || msg.code);
        p.reject(err);
      } else {
        p.resolve(msg);
      }
      return;
    }
    if (msg.type === 'error') this.emit('error', makeError(msg.code || 'error', msg.message || msg.code));
  }

  /** @private */
  _onReady(msg) {
    const first = !this._everReady;
    this._everReady = true;
    this._attempt = 0;
    this.me = msg.me;
    this.device = msg.device;
    this.presenceEnabled = msg.presenceEnabled !== false;
    this.presence = new Map(Object.entries(msg.presence || {}));
    const seen = new Set();
    for (const info of msg.conversations || []) {
      seen.add(info.id);
      let conv = this.conversations.get(info.id);
      if (!conv) {
        conv = new Conversation(this, info);
        this.conversations.set(info.id, conv);
      } else {
        conv._update(info, true);
        this._catchUp(conv);
      }
      this.emit('conversation', conv, { removed: false });
    }
    for (const [id, conv] of this.conversations) {
      if (!seen.has(id)) {
        this.conversations.delete(id);
        this.emit('conversation', conv, { removed: true });
      }
    }
    this._setState('connected');
    this._startPing();
    this._flushQueue();
    for (const s of this._outbox) this._transmitSend(s);
    if (this.presence.size) this.emit('presence', Object.fromEntries(this.presence));
    if (first && this._firstReady) {
      this._firstReady.done = true;
      this._firstReady.resolve(this);
    }
    this.emit('ready');
    if (first && !this._visitor) this.loadUsers().catch(() => {}); // a visitor has no directory
  }

  /** @private after a reconnect: catch up with what happened meanwhile. */
  _catchUp(conv) {
    if (conv.lastSeq <= conv.cursor) return;
    if (!conv.messages.length && conv.lastSeq - conv.cursor > MAX_CATCH_UP) {
      // Nothing of it is loaded: skip ahead; history loads the messages when they are wanted.
      conv.cursor = conv.lastSeq;
      conv.hasMore = true;
      return;
    }
    this._sync(conv);
  }

  /**
   * Sync rule: ask for everything after the cursor until the server says there is no more.
   * @private
   */
  _sync(conv) {
    if (conv._syncing) {
      conv._resync = true;
      return conv._syncing;
    }
    conv._syncing = (async () => {
      try {
        do {
          conv._resync = false;
          let more = true;
          while (more) {
            const r = await this.request({ type: 'sync', conversation: conv.id, after: conv.cursor });
            for (const e of r.entries || []) {
              if (e.seq <= conv.cursor) continue;
              this._apply(conv, e);
              conv.cursor = e.seq;
            }
            more = !!r.more && (r.entries || []).length > 0;
          }
        } while (conv._resync || conv.cursor < conv._wanted);
      } catch (err) {
        if (err.code !== 'disconnected') this.emit('error', err);
      } finally {
        conv._syncing = null;
      }
      this._scheduleDelivered(conv);
    })();
    return conv._syncing;
  }

  /** @private a live log entry. */
  _onEvent(entry) {
    if (!entry) return;
    const conv = this.conversations.get(entry.conversation);
    if (!conv) {
      this._orphan(entry);
      return;
    }
    if (entry.seq <= conv.cursor) return; // already applied
    if (entry.seq === conv.cursor + 1) {
      this._apply(conv, entry);
      conv.cursor = entry.seq;
      this._scheduleDelivered(conv);
      return;
    }
    // A gap: something was missed (a frame dropped, or we were too slow). Sync fills it in order.
    conv._wanted = Math.max(conv._wanted, entry.seq);
    this._sync(conv);
  }

  /**
   * An entry of a conversation we do not know yet: its `conversation` message usually follows at once
   * (a group's "created" entry is delivered before the group is announced). Keep it briefly.
   * @private
   */
  _orphan(entry) {
    let o = this._orphans.get(entry.conversation);
    if (!o) {
      o = { entries: [], timer: null };
      this._orphans.set(entry.conversation, o);
      o.timer = setTimeout(() => this._fetchOrphanConversation(entry.conversation), ORPHAN_WAIT_MS);
    }
    if (o.entries.length < 200) o.entries.push(entry);
  }

  /** @private */
  async _fetchOrphanConversation(id) {
    if (!this._orphans.has(id) || this.conversations.has(id)) return;
    try {
      const info = await this._fetchJSON(`/api/v1/conversations/${encodeURIComponent(id)}`);
      this._onConversation(info);
    } catch {
      this._orphans.delete(id);
    }
  }

  /** @private */
  _onConversation(info) {
    if (!info || !info.id) return;
    let conv = this.conversations.get(info.id);
    if (conv) {
      conv._update(info);
      if (conv.lastSeq > conv.cursor) this._sync(conv);
      this.emit('conversation', conv, { removed: false });
      return;
    }
    if (info.member === false) return; // a channel we are not in (e.g. from a listing)
    conv = new Conversation(this, info);
    const o = this._orphans.get(info.id);
    this._orphans.delete(info.id);
    if (o) clearTimeout(o.timer);
    // A brand-new conversation whose whole log we hold: apply it, so it starts complete.
    const entries = o ? o.entries.sort((a, b) => a.seq - b.seq) : [];
    if (entries.length && entries[0].seq === 1) {
      conv.cursor = 0;
      conv.hasMore = false;
      this.conversations.set(conv.id, conv);
      for (const e of entries) {
        if (e.seq !== conv.cursor + 1) break;
        this._apply(conv, e, { quiet: true });
        conv.cursor = e.seq;
      }
      if (conv.cursor < conv.lastSeq) this._sync(conv);
    } else {
      if (info.lastSeq === 0) conv.hasMore = false;
      this.conversations.set(conv.id, conv);
    }
    this.emit('conversation', conv, { removed: false });
  }

  /** @private */
  _onRemoved(id) {
    const conv = this.conversations.get(id);
    if (!conv) return;
    this.conversations.delete(id);
    this.emit('conversation', conv, { removed: true });
  }

  /** @private */
  _onReceipt(m) {
    const conv = this.conversations.get(m.conversation);
    if (!conv) return;
    const mem = conv.members.get(m.user) || { user: m.user, role: 'member', read: 0, delivered: 0 };
    mem.read = Math.max(mem.read, m.read || 0);
    mem.delivered = Math.max(mem.delivered, m.delivered || 0, mem.read);
    conv.members.set(m.user, mem);
    if (this.me && m.user === this.me.id) {
      // Another device of ours (or this one) read something.
      if (m.read > conv.readSeq) conv.readSeq = m.read;
      this._recountUnread(conv);
      this.emit('conversation', conv, { removed: false });
    }
    this.emit('receipt', { conversation: conv.id, user: m.user, read: mem.read, delivered: mem.delivered });
  }

  /** @private */
  _recountUnread(conv) {
    if (conv.readSeq >= conv.lastSeq) {
      conv.unread = 0;
      return;
    }
    // Count what we can see; anything older than the loaded window keeps the server's count.
    const me = this.me?.id;
    const first = conv.messages.length ? conv.messages[0].seq : Infinity;
    if (conv.readSeq + 1 >= first || !conv.hasMore) {
      let n = 0;
      for (const msg of conv.messages) {
        if (msg.seq > conv.readSeq && msg.sender !== me && (msg.kind === 'text' || msg.kind === 'call') && !msg.deletedAt) n += 1;
      }
      conv.unread = n;
    }
  }

  /** @private */
  _onTyping(m) {
    const conv = this.conversations.get(m.conversation);
    if (!conv || !m.user) return;
    conv.typing.set(m.user, Date.now() + TYPING_SHOWN_MS);
    this.emit('typing', { conversation: conv.id, user: m.user, typing: true });
    const key = `${conv.id}/${m.user}`;
    clearTimeout(this._typingTimers.get(key));
    this._typingTimers.set(key, setTimeout(() => this._stopTyping(conv, m.user), TYPING_SHOWN_MS));
  }

  /** @private */
  _stopTyping(conv, user) {
    const key = `${conv.id}/${user}`;
    clearTimeout(this._typingTimers.get(key));
    this._typingTimers.delete(key);
    if (conv.typing.delete(user)) this.emit('typing', { conversation: conv.id, user, typing: false });
  }

  /** @private */
  _onPresence(users) {
    for (const [u, info] of Object.entries(users)) this.presence.set(u, info);
    this.emit('presence', users);
  }

  // -------------------------------------------------------------------------------------------
  // Applying log entries

  /**
   * Applies one log entry to its conversation. Idempotent for what may arrive twice (a message that
   * history already loaded, a reaction already there).
   * @private
   */
  _apply(conv, e, { quiet = false } = {}) {
    conv.lastSeq = Math.max(conv.lastSeq, e.seq);
    const me = this.me?.id;
    switch (e.kind) {
      case 'text':
      case 'call':
      case 'system': {
        if (e.kind !== 'system') conv.lastActivity = e.at || conv.lastActivity;
        const msg = toMessage(e);
        let fresh;
        if (e.thread) {
          const root = conv.message(e.thread);
          const list = conv.threads.get(e.thread);
          fresh = list ? insertBySeq(list, msg) : true;
          if (root && fresh) {
            if (!root._replySeqs) root._replySeqs = new Set();
            if (!root._replySeqs.has(e.seq)) {
              root._replySeqs.add(e.seq);
              root.replies = (root.replies || 0) + 1;
              this.emit('update', root, conv);
            }
          }
        } else {
          fresh = insertBySeq(conv.messages, msg);
        }
        if (e.sender !== me) this._stopTyping(conv, e.sender);
        if (me && e.sender === me && e.txn) this._settlePending(conv, e.txn);
        if (!fresh) return;
        if (e.sender !== me && e.kind !== 'system' && e.seq > conv.readSeq && e.seq > conv._countedTo) conv.unread += 1;
        if (!quiet) this.emit('message', msg, conv);
        this.emit('conversation', conv, { removed: false });
        return;
      }
      case 'edit': {
        const target = conv.message(e.target);
        if (!target) return;
        target.text = e.text;
        target.editedAt = e.at;
        this.emit('update', target, conv);
        return;
      }
      case 'delete': {
        const target = conv.message(e.target);
        if (!target) return;
        target.text = '';
        target.deletedAt = e.at;
        if (target.data) target.data = { ...target.data, attachments: undefined };
        this.emit('update', target, conv);
        return;
      }
      case 'reaction': {
        const target = conv.message(e.target);
        if (!target) return;
        const d = e.data || {};
        const has = target.reactions.findIndex((r) => r.user === e.sender && r.emoji === d.emoji);
        if (d.add && has < 0) target.reactions.push({ user: e.sender, emoji: d.emoji });
        if (!d.add && has >= 0) target.reactions.splice(has, 1);
        this.emit('update', target, conv);
        return;
      }
      default:
    }
  }

  /** @private merges messages from history into the main timeline. Returns how many were new. */
  _mergeHistory(conv, list) {
    let added = 0;
    for (const e of list) {
      if (e.thread) continue;
      const msg = toMessage(e);
      const i = indexOfSeq(conv.messages, msg.seq);
      if (i >= 0) {
        // History is at least as new as what we hold: take its text, reactions and reply count.
        Object.assign(conv.messages[i], msg);
      } else {
        insertBySeq(conv.messages, msg);
        added += 1;
      }
    }
    return added;
  }

  /** @private sends `delivered` for what we received, at most every DELIVERED_DELAY_MS per conversation. */
  _scheduleDelivered(conv) {
    if (this._deliveredTimers.has(conv.id)) return;
    this._deliveredTimers.set(conv.id, setTimeout(() => {
      this._deliveredTimers.delete(conv.id);
      const seq = conv.cursor;
      const mine = this.me && conv.members.get(this.me.id);
      if (seq <= conv._deliveredSent || seq <= conv.readSeq || (mine && mine.delivered >= seq)) return;
      conv._deliveredSent = seq;
      this.request({ type: 'delivered', conversation: conv.id, seq }).catch(() => { conv._deliveredSent = 0; });
    }, DELIVERED_DELAY_MS));
  }

  // -------------------------------------------------------------------------------------------
  // Sending

  /**
   * Sends a message. Resolves with the stored {@link Message} once the server has it; a send made while
   * disconnected, or whose answer was lost, is sent again with the same `txn` until the server
   * acknowledges it (the server stores it once).
   * @param {string} conversationId
   * @param {string} text plain text, at most 8000 characters (may be empty with files)
   * @param {{thread?: number, reply?: number, files?: (string|File|Blob|{id: string})[], txn?: string}} [options]
   * @returns {Promise<Message>}
   */
  async send(conversationId, text, options = {}) {
    const conv = this._conv(conversationId);
    const files = [];
    for (const f of options.files || []) {
      if (typeof f === 'string') files.push(f);
      else if (typeof Blob !== 'undefined' && f instanceof Blob) files.push((await this.uploadFile(conv.id, f)).id);
      else if (f && f.id) files.push(f.id);
    }
    const p = {
      txn: options.txn || randomId(), conversation: conv.id, text: String(text ?? ''), thread: options.thread || 0,
      reply: options.reply || 0, files, state: 'sending', at: new Date().toISOString(), inFlight: false,
    };
    conv.pending.push(p);
    this.emit('pending', conv);
    return new Promise((resolve, reject) => {
      p.resolve = resolve;
      p.reject = reject;
      this._outbox.push(p);
      if (this.state === 'connected') this._transmitSend(p);
    });
  }

  /**
   * Sends a failed message again (same txn).
   * @param {string} conversationId
   * @param {string} txn
   */
  retry(conversationId, txn) {
    const conv = this._conv(conversationId);
    const p = conv.pending.find((x) => x.txn === txn);
    if (!p || p.state !== 'failed') return Promise.reject(makeError('not_found', 'no failed message with that txn'));
    return this.send(conv.id, p.text, { thread: p.thread, reply: p.reply, files: p.files, txn: p.txn })
      .finally(() => this.discard(conv.id, txn, p));
  }

  /** Forgets a failed message. @param {string} conversationId @param {string} txn */
  discard(conversationId, txn, only) {
    const conv = this.conversations.get(conversationId);
    if (!conv) return;
    const before = conv.pending.length;
    conv.pending = conv.pending.filter((x) => !(x.txn === txn && x.state === 'failed' && (!only || x === only)));
    if (conv.pending.length !== before) this.emit('pending', conv);
  }

  /** @private */
  _transmitSend(p) {
    if (p.inFlight || this.state !== 'connected' || !this._ws) return;
    const id = this._id();
    p.inFlight = true;
    this._pending.set(id, {
      send: p,
      // No answer (e.g. the frame was refused as rate limited, which carries no id): send it again.
      // The same txn makes that safe.
      timer: setTimeout(() => {
        this._pending.delete(id);
        p.inFlight = false;
        this._transmitSend(p);
      }, REQUEST_TIMEOUT_MS),
      resolve: (reply) => this._sendAcked(p, reply.entry),
      reject: (err) => this._sendFailed(p, err),
    });
    const msg = { type: 'send', id, conversation: p.conversation, txn: p.txn };
    if (p.text) msg.text = p.text;
    if (p.thread) msg.thread = p.thread;
    if (p.reply) msg.reply = p.reply;
    if (p.files.length) msg.files = p.files;
    if (!this._raw(msg)) {
      p.inFlight = false;
      clearTimeout(this._pending.get(id)?.timer);
      this._pending.delete(id);
    }
  }

  /** @private */
  _sendAcked(p, entry) {
    this._outbox = this._outbox.filter((x) => x !== p);
    const conv = this.conversations.get(p.conversation);
    if (conv && entry) {
      // Normally the event came first; if not, this is the entry (sync fills any gap before it).
      this._onEvent(entry);
      this._settlePending(conv, p.txn);
    }
    p.resolve((conv && entry && conv.message(entry.seq)) || (entry ? toMessage(entry) : null));
  }

  /** @private */
  _sendFailed(p, err) {
    p.inFlight = false;
    if (err.code === 'disconnected') return; // sent again after the reconnect
    if (err.code === 'rate_limited' || err.code === 'internal' || err.code === 'timeout') {
      setTimeout(() => this._transmitSend(p), SEND_RETRY_MS);
      return;
    }
    this._outbox = this._outbox.filter((x) => x !== p);
    p.state = 'failed';
    p.error = err;
    const conv = this.conversations.get(p.conversation);
    if (conv) this.emit('pending', conv);
    p.reject(err);
  }

  /** @private */
  _settlePending(conv, txn) {
    const before = conv.pending.length;
    conv.pending = conv.pending.filter((x) => x.txn !== txn || x.state === 'failed');
    if (conv.pending.length !== before) this.emit('pending', conv);
  }

  /**
   * Replaces the text of one of our messages.
   * @param {string} conversationId @param {number} seq @param {string} text
   */
  async edit(conversationId, seq, text) {
    await this.request({ type: 'edit', conversation: conversationId, seq, text });
  }

  /** Deletes a message (ours; any, for conversation owners and admins). @param {string} conversationId @param {number} seq */
  async delete(conversationId, seq) {
    await this.request({ type: 'delete', conversation: conversationId, seq });
  }

  /**
   * Adds (or with `add = false` removes) our emoji reaction on a message.
   * @param {string} conversationId @param {number} seq @param {string} emoji @param {boolean} [add]
   */
  async react(conversationId, seq, emoji, add = true) {
    await this.request({ type: 'react', conversation: conversationId, seq, emoji, add: !!add });
  }

  /**
   * Marks the conversation read up to `seq` (default: everything we have), when the person has seen it.
   * @param {string} conversationId @param {number} [seq]
   */
  markRead(conversationId, seq) {
    const conv = this.conversations.get(conversationId);
    if (!conv) return Promise.resolve();
    const upTo = Math.min(seq || conv.cursor, conv.cursor);
    if (upTo <= 0) return Promise.resolve();
    let changed = false;
    if (upTo > conv.readSeq) { conv.readSeq = upTo; changed = true; }
    const unread = conv.unread;
    this._recountUnread(conv);
    if (changed || unread !== conv.unread) this.emit('conversation', conv, { removed: false });
    if (upTo <= conv._readSent) return Promise.resolve();
    conv._readSent = upTo;
    return this.request({ type: 'read', conversation: conv.id, seq: upTo }).catch((err) => {
      conv._readSent = 0;
      throw err;
    });
  }

  /**
   * Tells the others we are typing; call it on every keystroke, it sends at most every 3 s.
   * @param {string} conversationId
   */
  typing(conversationId) {
    const conv = this.conversations.get(conversationId);
    if (!conv || this.state !== 'connected') return;
    const now = Date.now();
    if (now - conv._typingSentAt < TYPING_SEND_EVERY_MS) return;
    conv._typingSentAt = now;
    this.request({ type: 'typing', conversation: conv.id }).catch(() => {});
  }

  /** Call after sending, so the next keystroke announces typing again at once. @param {string} conversationId */
  stoppedTyping(conversationId) {
    const conv = this.conversations.get(conversationId);
    if (conv) conv._typingSentAt = 0;
  }

  /**
   * Sets our presence status (`available`, `away`, `busy`, `dnd`) and an optional text.
   * @param {string} status @param {string} [text]
   */
  async setStatus(status, text = '') {
    await this.request({ type: 'status', status, text });
  }

  /** Tells the server whether this device is idle (the person is away from it). @param {boolean} idle */
  setIdle(idle) {
    if (this.state !== 'connected' || this._idle === !!idle) return;
    this._idle = !!idle;
    this.request({ type: 'activity', idle: !!idle }).catch(() => { this._idle = undefined; });
  }

  // -------------------------------------------------------------------------------------------
  // Reading

  /**
   * Loads a page of history before `before` (default: before the oldest loaded message, or the newest
   * page) into `conversation.messages` and resolves with the page (oldest first). `conversation.hasMore`
   * turns false at the beginning of the conversation.
   * @param {string} conversationId
   * @param {{before?: number, limit?: number}} [options]
   * @returns {Promise<Message[]>}
   */
  async history(conversationId, options = {}) {
    const conv = this._conv(conversationId);
    const limit = options.limit || 50;
    const before = options.before !== undefined ? options.before : (conv.messages.length ? conv.messages[0].seq : 0);
    const r = await this.request({ type: 'history', conversation: conv.id, before, limit });
    const list = r.messages || [];
    // Only a page that continues the loaded window joins it.
    const oldest = conv.messages.length ? conv.messages[0].seq : Infinity;
    if (before === 0 || before <= oldest) {
      this._mergeHistory(conv, list);
      // A short page, or one reaching the first entry of the log, is the beginning.
      if (list.length < limit || (list.length && list[0].seq === 1)) conv.hasMore = false;
      this._recountUnread(conv);
      this.emit('history', conv);
    }
    return list.map((e) => conv.message(e.seq) || toMessage(e));
  }

  /**
   * Loads the next older page into `conversation.messages`; resolves with how many messages were added
   * (0 at the beginning). Concurrent calls share one request.
   * @param {string} conversationId @param {number} [limit]
   */
  loadOlder(conversationId, limit = 50) {
    const conv = this._conv(conversationId);
    if (conv._loadingOlder) return conv._loadingOlder;
    if (!conv.hasMore) return Promise.resolve(0);
    const n = conv.messages.length;
    conv._loadingOlder = this.history(conv.id, { limit })
      .then(() => conv.messages.length - n)
      .finally(() => { conv._loadingOlder = null; });
    return conv._loadingOlder;
  }

  /**
   * Loads a thread: its root and replies (kept in `conversation.threads`, updated live). A page holds
   * the replies after `after` (default: from the first), at most `limit` (default and maximum 499);
   * `more` tells that there are more: ask again with `{after: next}`.
   * `replies` are all the replies loaded so far (with any that arrived live).
   * @param {string} conversationId @param {number} root
   * @param {{after?: number, limit?: number}} [options]
   * @returns {Promise<{root: Message, replies: Message[], more: boolean, next: number}>}
   */
  async thread(conversationId, root, options = {}) {
    const conv = this._conv(conversationId);
    const msg = { type: 'thread', conversation: conv.id, root };
    if (options.after) msg.after = options.after;
    if (options.limit) msg.limit = options.limit;
    const r = await this.request(msg);
    const [first, ...rest] = (r.messages || []).map(toMessage);
    const replies = conv.threads.get(root) || [];
    for (const m of rest) {
      const i = indexOfSeq(replies, m.seq);
      if (i >= 0) Object.assign(replies[i], m);
      else insertBySeq(replies, m);
    }
    conv.threads.set(root, replies);
    const known = conv.message(root);
    if (known && first) {
      Object.assign(known, first, { replies: Math.max(first.replies || 0, replies.length) });
      known._replySeqs = new Set(replies.map((m) => m.seq));
    }
    // next: where the following page starts (replies may also hold live ones, newer than this page).
    return { root: known || first, replies, more: !!r.more, next: rest.length ? rest[rest.length - 1].seq : 0 };
  }

  /**
   * Searches the messages we can see (all our conversations, or one).
   * @param {string} query words that must all appear
   * @param {{conversation?: string, limit?: number}} [options]
   * @returns {Promise<Message[]>} newest first
   */
  async search(query, options = {}) {
    const msg = { type: 'search', query };
    if (options.conversation) msg.conversation = options.conversation;
    if (options.limit) msg.limit = options.limit;
    const r = await this.request(msg);
    return (r.messages || []).map(toMessage);
  }

  // -------------------------------------------------------------------------------------------
  // Conversations

  /**
   * The conversations, most recently active first.
   * @returns {Conversation[]}
   */
  inbox() {
    const t = (c) => Date.parse(c.lastActivity) || 0;
    return [...this.conversations.values()].sort((a, b) => t(b) - t(a) || a.id.localeCompare(b.id));
  }

  /** @private */
  _conv(id) {
    const conv = this.conversations.get(typeof id === 'string' ? id : id?.id);
    if (!conv) throw makeError('not_found', `no conversation ${id} that you are a member of`);
    return conv;
  }

  /** @private */
  async _convReply(msg) {
    const r = await this.request(msg);
    this._onConversation(r.conversation);
    return this.conversations.get(r.conversation.id) || new Conversation(this, r.conversation);
  }

  /**
   * Opens (creating it if needed) our direct conversation with a person.
   * @param {string} userId
   * @returns {Promise<Conversation>}
   */
  direct(userId) {
    return this._convReply({ type: 'direct', user: userId });
  }

  /**
   * Creates a group (invitation only) with us as its owner.
   * @param {string} name @param {string[]} members user ids @param {{topic?: string}} [options]
   */
  createGroup(name, members = [], options = {}) {
    return this._convReply({ type: 'create', kind: 'group', name, members, ...(options.topic ? { topic: options.topic } : {}) });
  }

  /**
   * Creates a channel (anyone may join) with us as its owner.
   * @param {string} name @param {{topic?: string, members?: string[]}} [options]
   */
  createChannel(name, options = {}) {
    return this._convReply({ type: 'create', kind: 'channel', name, members: options.members || [], ...(options.topic ? { topic: options.topic } : {}) });
  }

  /** Lists the channels (each with `member`: whether we are in it). */
  async channels() {
    const r = await this.request({ type: 'channels' });
    return r.channels || [];
  }

  /** Joins a channel. @param {string} conversationId */
  join(conversationId) {
    return this._convReply({ type: 'join', conversation: conversationId });
  }

  /** Leaves a group or channel. @param {string} conversationId */
  async leave(conversationId) {
    await this.request({ type: 'leave', conversation: conversationId });
    this._onRemoved(conversationId);
  }

  /** Adds people to a group or channel. @param {string} conversationId @param {string[]} users */
  invite(conversationId, users) {
    return this._convReply({ type: 'invite', conversation: conversationId, users });
  }

  /**
   * Renames, sets the topic of, or (un)archives a group or channel.
   * @param {string} conversationId @param {{name?: string, topic?: string, archived?: boolean}} changes
   */
  update(conversationId, changes) {
    return this._convReply({ type: 'update', conversation: conversationId, ...changes });
  }

  /** Mutes or unmutes a conversation's notifications (mentions still notify). @param {string} conversationId @param {boolean} muted */
  async mute(conversationId, muted = true) {
    await this.request({ type: 'mute', conversation: conversationId, muted: !!muted });
    const conv = this.conversations.get(conversationId);
    if (conv) {
      conv.muted = !!muted;
      this.emit('conversation', conv, { removed: false });
    }
  }

  // -------------------------------------------------------------------------------------------
  // Files and people (REST)

  /**
   * Uploads a file to a conversation; send its `id` in `send(..., {files: [id]})`.
   * @param {string} conversationId @param {File|Blob} file @param {string} [name] default `file.name`
   * @returns {Promise<{id: string, name: string, size: number, type: string, url: string}>}
   */
  async uploadFile(conversationId, file, name) {
    const fname = name || file.name || 'file';
    const conv = encodeURIComponent(conversationId);
    const info = await this._fetchJSON(`/api/v1/conversations/${conv}/files?name=${encodeURIComponent(fname)}`, {
      method: 'POST', body: file, headers: { 'Content-Type': file.type || 'application/octet-stream' },
    });
    // The file's address is the conversation's (members only), whatever the answer says.
    return { ...info, url: `${this.baseURL}/api/v1/conversations/${conv}/files/${encodeURIComponent(info.id)}` };
  }

  /** Loads the directory of people into `client.users`. */
  async loadUsers() {
    const r = await this._fetchJSON('/api/v1/users');
    for (const u of r.users || []) this.users.set(u.id, u);
    this._directoryLoaded = true;
    this.emit('users', this.users);
    return this.users;
  }

  /** A person by id (from the directory, or ourselves), or null. @param {string} id */
  user(id) {
    if (this.me && id === this.me.id) return this.users.get(id) || this.me;
    const u = this.users.get(id);
    if (!u && id) this._lookUp(id);
    return u || null;
  }

  /** @private Someone not in the directory (a website visitor talking with us): asked once, by id. */
  _lookUp(id) {
    if (!this._directoryLoaded || this._visitor) return;
    this._asked = this._asked || new Set();
    if (this._asked.has(id)) return;
    this._asked.add(id);
    this._fetchJSON(`/api/v1/users/${encodeURIComponent(id)}`)
      .then((u) => { this.users.set(u.id, u); this.emit('users', this.users); })
      .catch(() => {});
  }

  /** A person's display name (or username, or a placeholder). @param {string} id */
  displayName(id) {
    const u = this.user(id);
    return (u && (u.displayName || u.username)) || 'Someone';
  }

  /**
   * Changes our display name (`PATCH /api/v1/users/me`).
   * @param {string} displayName
   */
  async setDisplayName(displayName) {
    const u = await this._fetchJSON('/api/v1/users/me', { method: 'PATCH', body: JSON.stringify({ displayName }), headers: { 'Content-Type': 'application/json' } });
    this.users.set(u.id, { ...this.users.get(u.id), ...u });
    if (this.me) this.me.displayName = u.displayName;
    this.emit('users', this.users);
    return u;
  }

  /** @private a JSON request to the REST API with our credentials. */
  async _fetchJSON(path, init = {}) {
    if (!this._fetchImpl) throw makeError('network', 'no fetch implementation');
    const headers = { ...(init.headers || {}) };
    const method = (init.method || 'GET').toUpperCase();
    if (this._token) headers.Authorization = `Bearer ${this._token}`;
    else if (method !== 'GET' && method !== 'HEAD' && this._csrf) headers['X-CSRF-Token'] = this._csrf;
    let res;
    try {
      res = await this._fetchImpl(this.baseURL + path, { ...init, method, headers, credentials: this._visitor ? 'omit' : 'include' });
    } catch (err) {
      throw makeError('network', `could not reach the server: ${err.message}`);
    }
    if (res.status === 204) return {};
    let body = null;
    try { body = await res.json(); } catch { /* not JSON */ }
    if (!res.ok) {
      const e = (body && (body.error || body)) || {};
      const err = makeError(e.code || `http_${res.status}`, e.message || `request failed (${res.status})`);
      err.status = res.status;
      throw err;
    }
    return body;
  }

  // -------------------------------------------------------------------------------------------
  // Calls

  /**
   * Calls a person (a user id, or `{user}`), the members of a conversation (`{conversation}`), or a
   * registered desk phone (`{phone}`: its extension, or the username of a user whose phone is
   * registered; nobody's browser rings, and `call.phone` is set). A website visitor (a widget's
   * token) may call the telephone their widget is set up with: `{clickToCall: true}`.
   * Resolves with the {@link Call} once it rings; `call.join()` then yields the meetings Room.
   * @param {string|{user?: string, conversation?: string, phone?: string, clickToCall?: boolean}} target
   * @param {{video?: boolean}} [options]
   * @returns {Promise<Call>}
   */
  async call(target, options = {}) {
    const msg = { type: 'call', video: !!options.video };
    if (typeof target === 'string') msg.user = target;
    else if (target && target.conversation) msg.conversation = target.conversation;
    else if (target && target.user) msg.user = target.user;
    else if (target && target.phone) msg.phone = target.phone;
    else if (target && target.clickToCall) msg.clickToCall = true;
    const r = await this.request(msg);
    const call = new Call(this, r.call, false);
    this.calls.set(call.id, call);
    const early = this._earlyCallStates.get(call.id);
    this._earlyCallStates.delete(call.id);
    for (const m of early || []) this._onCallState(m);
    this.emit('call', call);
    return call;
  }

  /**
   * The browser phone: calls to and from telephones with their media handled (see {@link Phone}).
   * @type {Phone}
   */
  get phone() {
    if (!this._phone) this._phone = new Phone(this);
    return this._phone;
  }

  /** @private */
  _onIncomingCall(info) {
    if (!info || !info.id) return;
    let call = this.calls.get(info.id);
    if (call) {
      // Rung again (someone was added to a call we are part of): refresh what we know.
      call.invited = info.invited || call.invited;
      call.group = !!info.group;
    } else {
      call = new Call(this, info, true);
      this.calls.set(call.id, call);
    }
    this.emit('incomingCall', call);
    if (this._phone && (call.phone || !call.from)) this._phone._incoming(call);
  }

  /** @private */
  _onCallState(m) {
    let call = this.calls.get(m.call);
    if (!call) {
      if (m.state === 'ringing') return; // our other device is calling: nothing to do here
      const list = this._earlyCallStates.get(m.call) || [];
      list.push(m);
      this._earlyCallStates.set(m.call, list);
      setTimeout(() => this._earlyCallStates.delete(m.call), 10000);
      return;
    }
    call._state(m);
    if (m.state === 'ended') this.calls.delete(call.id);
    this.emit('call', call);
  }
}

/**
 * Signs in and connects. With no credentials it uses the browser's session cookie (the person signed
 * in on the web app); with `username` and `password` it signs in first (`POST /api/v1/auth/login`);
 * with `token` (a personal `sbu_` API token) it connects as a bot (outside browsers; see ClientOptions).
 * Resolves with a connected {@link MessagingClient}; rejects with `unauthorized` when not signed in.
 *
 * @param {string} [baseURL] the server, '' for this page's origin
 * @param {ClientOptions & {username?: string, password?: string, totp?: string}} [options]
 * @returns {Promise<MessagingClient>}
 */
export async function signIn(baseURL = '', options = {}) {
  const { username, password, totp, ...rest } = options;
  const client = new MessagingClient(baseURL, rest);
  if (!rest.token && username) {
    const s = await client._fetchJSON('/api/v1/auth/login', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username, password, ...(totp ? { totp } : {}) }),
    });
    client._csrf = s.csrfToken;
    client.me = s.user;
  }
  await client.connect();
  return client;
}

export { Phone, PhoneCall, normalizeNumber } from './phone.js';
export default { signIn, MessagingClient, Conversation, Call, STATUSES };

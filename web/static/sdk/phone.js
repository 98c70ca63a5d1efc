/**
 * Switchboard browser phone (docs/sdk.md, "The browser phone"): calls to and from telephones (numbers
 * through the server's SIP trunks, registered desk phones by extension, SIP addresses) for a signed-in
 * person, with the media handled: the microphone is published, the other side plays through an
 * `<audio>` element the phone call manages, early media (ringback) is heard before the answer.
 *
 * It is a thin layer over the messaging client's {@link Call} (signalling) and the meetings `Room`
 * (media): a call to a telephone is a messaging `call` with a `phone` target whose media runs in a room
 * the telephone is in.
 *
 * @example
 * const client = await Switchboard.signIn('');
 * const call = await client.phone.call('+15551234567');
 * call.on('state', (s) => console.log(s));   // ringing, early, active, held, transferring, ended
 * client.phone.on('incoming', (c) => c.answer());
 *
 * @module switchboard/phone
 */
import { SwitchboardError } from './switchboard.js';
import { Emitter } from './emitter.js';

const SIP_URI = /^sips?:[\x21-\x7e]+$/i;
const DIALABLE = /^\+?[0-9*#]{1,32}$/;
const NAME = /^[\x21-\x7e]{1,64}$/;
const UNSAFE = /[<>"]/;

/**
 * Normalises what a person typed or pasted into something to call: a phone number loses its spaces,
 * dashes, dots and parentheses (`+1 (555) 123-4567` → `+15551234567`); a `sip:` address, an extension
 * or a username stays as it is. Throws `bad_request` for anything else.
 * @param {string} target
 * @returns {string}
 */
export function normalizeNumber(target) {
  const s = String(target ?? '').trim();
  if (!s) throw new SwitchboardError('bad_request', 'enter a number, an extension or a sip: address');
  if (SIP_URI.test(s) && !UNSAFE.test(s) && s.length <= 64) return s;
  const compact = s.replace(/[\s().\-\u00a0\u2010-\u2015/]/g, '');
  if (DIALABLE.test(compact) && /[0-9]/.test(compact)) return compact;
  if (NAME.test(s) && !UNSAFE.test(s) && /[A-Za-z0-9]/.test(s)) return s;
  throw new SwitchboardError('bad_request', `cannot call "${s.slice(0, 40)}": use a number, an extension or a sip: address`);
}

/** The phone states a page sees, from the messaging call's. */
function phoneState(callState) {
  return callState === 'accepted' ? 'active' : callState;
}

/**
 * A call with a telephone. Properties: `id`, `from` and `to` (numbers, extensions or usernames),
 * `fromName`, `toName` (the telephone's display name, when known), `incoming`, `state` (`'ringing' | 'early' | 'active' | 'held' | 'transferring' | 'ended'`),
 * `cause` once ended (`hangup`, `busy`, `no_answer`, `declined`, `cancelled`, `failed`, `transferred`,
 * `answered_elsewhere`), `heldBy`, `muted`, `remoteStream` (the other side's audio, a `MediaStream`),
 * `keys` (keys pressed on the telephone), `duration` (seconds answered, once ended), `call` (the
 * messaging {@link Call} underneath).
 *
 * Events: `state` (state, phoneCall), `ended` ({cause, duration}), `dtmf` (digit pressed on the
 * telephone), `media` (remoteStream, once the other side's audio arrives), `transferFailed` (the
 * call is back after a transfer that did not go through), `transferred` ({number, name}: the
 * telephone handed the call to another telephone, which answered; the call goes on with it, and
 * `to` (or `from` for an incoming call) and `toName` (`fromName`) now name it), `error` (a media
 * problem).
 */
export class PhoneCall extends Emitter {
  /**
   * @param {Phone} phone
   * @param {import('./messaging.js').Call} call
   * @param {string} to what was dialled (outgoing calls)
   */
  constructor(phone, call, to = '') {
    super('switchboard phone');
    Object.defineProperty(this, 'phone', { value: phone, enumerable: false });
    Object.defineProperty(this, 'call', { value: call, enumerable: false });
    const client = phone.client;
    this.id = call.id;
    this.incoming = call.incoming;
    if (call.incoming) {
      this.from = call.phone || client.displayName?.(call.from) || call.from || '';
      this.fromName = call.phoneName || '';
      this.to = client.me?.username || '';
    } else {
      this.from = client.me?.username || '';
      this.fromName = client.me?.displayName || '';
      this.to = to || call.phone;
      this.toName = call.phoneName || '';
    }
    this.state = phoneState(call.state);
    this.cause = call.state === 'ended' ? (call.reason || 'failed') : '';
    this.heldBy = '';
    this.muted = false;
    this.duration = 0;
    /** @type {MediaStream|null} */
    this.remoteStream = null;
    /** @type {import('./switchboard.js').Room|null} */
    this.room = null;
    this._media = false;
    this._mic = null;
    this._audio = null;
    this._offs = [
      call.on('state', () => this._onState()),
      call.on('dtmf', (d) => this.emit('dtmf', d)),
      call.on('room', (room) => this._adopt(room)),
      call.on('transferFailed', () => this.emit('transferFailed')),
      call.on('phoneTransferred', ({ phone: number, phoneName: name }) => this._transferred(number, name)),
    ];
  }

  /** Keys pressed on the telephone so far. */
  get keys() { return this.call.keys; }

  /** Answer an incoming call here: the media starts. */
  async answer() {
    await this.call.answer();
    this._startMedia();
  }

  /** Decline an incoming call. */
  async decline() { await this.call.decline(); }

  /** Hang up (or cancel while it rings). */
  async hangup() {
    try {
      await this.call.hangup();
    } finally {
      this._stopMedia();
    }
  }

  /** Put the telephone on hold (the other side hears nothing from us). */
  async hold() { await this.call.hold(); }

  /** Take it off hold. */
  async resume() { await this.call.resume(); }

  /**
   * Blind transfer: the telephone is handed to `target` (normalised like {@link normalizeNumber}) and
   * this call ends with cause `transferred`.
   * @param {string} target
   */
  async transfer(target) { await this.call.transfer(normalizeNumber(target)); }

  /**
   * Keypad tones to the telephone (RFC 4733): `0-9 * # A-D`, `,` for a 2 s pause.
   * @param {string} tones
   */
  sendDTMF(tones) { this.call.sendDTMF(tones); }

  /** Mute or unmute the microphone. @param {boolean} muted */
  async setMuted(muted) {
    this.muted = !!muted;
    if (this._mic) for (const t of this._mic.getAudioTracks()) t.enabled = !this.muted;
    if (this.room) await this.room.setMuted('microphone', this.muted).catch(() => {});
  }

  /** @private */
  _onState() {
    const c = this.call;
    const s = phoneState(c.state);
    this.heldBy = c.heldBy;
    if (c.state === 'ended') {
      this.cause = c.reason || 'hangup';
      this.duration = c.duration;
    }
    if (this._media && c.joinable) this._join();
    if (s === this.state && s !== 'held' && s !== 'active') return;
    this.state = s;
    this.emit('state', s, this);
    if (s === 'ended') {
      this._stopMedia();
      for (const off of this._offs) off();
      this.phone.calls.delete(this.id);
      this.emit('ended', { cause: this.cause, duration: this.duration });
    }
  }

  /** @private the telephone transferred the call to another: the other side is now that one */
  _transferred(number, name) {
    if (this.incoming) {
      this.from = number;
      this.fromName = name;
    } else {
      this.to = number;
      this.toName = name;
    }
    this.emit('transferred', { number, name });
  }

  /** @private once answered (incoming) or dialled (outgoing): join whenever the call has a room. */
  _startMedia() {
    this._media = true;
    if (this.call.joinable) this._join();
  }

  /** @private joins the call's room; the room event (also when the call moves rooms) does the rest */
  async _join() {
    if (this._joining || this.call.meeting || this.call.state === 'ended') return;
    this._joining = true;
    try {
      await this.call.join(this.phone.options.connect || {});
    } catch (err) {
      if (this.call.state !== 'ended') this.emit('error', err);
    } finally {
      this._joining = false;
    }
  }

  /** @private plays the room's audio and publishes the microphone in it */
  async _adopt(room) {
    if (!this._media || this.call.state === 'ended') return;
    this.room = room;
    room.on('track', ({ track }) => { if (track && track.kind === 'audio' && this.room === room) this._play(track); });
    for (const t of room.tracks) if (t.track && t.kind === 'audio') this._play(t.track);
    try {
      if (!this._mic) {
        this._mic = await navigator.mediaDevices.getUserMedia({ audio: this.phone.options.audio || true, video: false });
        if (!this._media) { for (const t of this._mic.getTracks()) t.stop(); this._mic = null; return; }
      }
      for (const t of this._mic.getAudioTracks()) t.enabled = !this.muted;
      if (this.room === room) await room.publish(this._mic);
    } catch (err) {
      if (this.call.state !== 'ended') this.emit('error', err);
    }
  }

  /** @private plays the other side's audio */
  _play(track) {
    if (!this.remoteStream) this.remoteStream = new MediaStream();
    for (const old of this.remoteStream.getAudioTracks()) if (old !== track) this.remoteStream.removeTrack(old);
    if (!this.remoteStream.getTrackById(track.id)) this.remoteStream.addTrack(track);
    if (this.phone.options.playAudio !== false && typeof document !== 'undefined') {
      if (!this._audio) {
        this._audio = document.createElement('audio');
        this._audio.autoplay = true;
        this._audio.hidden = true;
        this._audio.dataset.phoneCall = this.id;
        document.body.appendChild(this._audio);
      }
      this._audio.srcObject = this.remoteStream;
      this._audio.play().catch(() => {});
    }
    this.emit('media', this.remoteStream);
  }

  /** @private */
  _stopMedia() {
    this._media = false;
    if (this._mic) for (const t of this._mic.getTracks()) t.stop();
    this._mic = null;
    if (this._audio) {
      this._audio.srcObject = null;
      this._audio.remove();
      this._audio = null;
    }
    this.room = null;
  }
}

/**
 * `client.phone`: place calls to telephones and hear about calls from them.
 * Events: `incoming` (PhoneCall) for a call from a telephone (a number over a trunk, or a desk phone
 * the server marks with `phone`); calls between people keep the client's `incomingCall` event only.
 */
export class Phone extends Emitter {
  /** @param {import('./messaging.js').MessagingClient} client */
  constructor(client) {
    super('switchboard phone');
    Object.defineProperty(this, 'client', { value: client, enumerable: false });
    /** @type {Map<string, PhoneCall>} calls in progress by id */
    this.calls = new Map();
    /**
     * Settings: `audio` (getUserMedia audio constraints), `playAudio` (false: play `remoteStream`
     * yourself), `connect` (options for the meetings `connect()`, e.g. `rtcConfig`).
     */
    this.options = { audio: true, playAudio: true, connect: {} };
  }

  /**
   * Calls a telephone: a number (`+15551234567`, typed or pasted in any common format), an extension, a
   * username whose desk phone is registered, or a `sip:` address. Resolves once it rings (the call's
   * `state` then goes on: `early`, `active`, ..., `ended`); rejects with `not_found` when the server has
   * no route to it, `bad_request` for something that is not a number or address.
   * @param {string} target
   * @returns {Promise<PhoneCall>}
   */
  async call(target) {
    const to = normalizeNumber(target);
    const inner = await this.client.call({ phone: to });
    const pc = new PhoneCall(this, inner, to);
    if (inner.state === 'ended') {
      // Refused at once (busy): nothing to join; the caller reads pc.cause.
      for (const off of pc._offs) off();
      return pc;
    }
    this.calls.set(pc.id, pc);
    pc._startMedia();
    return pc;
  }

  /** @private the messaging client's incoming call from a telephone */
  _incoming(call) {
    if (this.calls.has(call.id)) return;
    const pc = new PhoneCall(this, call);
    this.calls.set(pc.id, pc);
    this.emit('incoming', pc);
  }
}

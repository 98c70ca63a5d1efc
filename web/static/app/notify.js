// Notifications: system notifications while the page is open but not looked at, and Web Push (through
// the service worker at /sw.js) when it is closed. The server pushes only to people with no device in
// use, so the page reports itself idle when hidden.
import { api } from './session.js';
import { store } from './media.js';
import { preview } from './format.js';

const KEY = 'sb.notify';

function b64urlToBytes(s) {
  const pad = '='.repeat((4 - (s.length % 4)) % 4);
  const bin = atob((s + pad).replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/**
 * @typedef {Object} Notifier
 * @property {() => boolean} enabled
 * @property {() => Promise<void>} enable
 * @property {() => Promise<void>} disable
 * @property {() => string} describe
 * @property {() => void} destroy
 */

/**
 * @param {import('/sdk/messaging.js').MessagingClient} client
 * @param {{isLooking: (convId: string) => boolean, open: (convId: string) => void}} ui
 * @returns {Notifier}
 */
export function createNotifier(client, ui) {
  const supported = typeof Notification !== 'undefined';
  let pushState = 'off'; // off | pending | on | unavailable
  let reg = null;
  const listeners = new Set();
  const changed = () => { for (const fn of listeners) fn(); };

  const enabled = () => supported && Notification.permission === 'granted' && store.get(KEY) === '1';

  async function registration() {
    if (reg || !('serviceWorker' in navigator)) return reg;
    try {
      reg = await navigator.serviceWorker.register('/sw.js', { scope: '/' });
    } catch {
      reg = null;
    }
    return reg;
  }

  /** Subscribes this browser to Web Push (in the background: the browser's push service may be slow). */
  async function subscribePush() {
    pushState = 'pending';
    changed();
    const r = await registration();
    if (!r || !('PushManager' in window)) {
      pushState = 'unavailable';
      changed();
      return;
    }
    try {
      const { publicKey } = await api('/api/v1/push/vapid-key');
      let sub = await r.pushManager.getSubscription();
      if (!sub) {
        sub = await Promise.race([
          r.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64urlToBytes(publicKey) }),
          new Promise((_, reject) => setTimeout(() => reject(new Error('the push service did not answer')), 20000)),
        ]);
      }
      await api('/api/v1/push/subscriptions', { method: 'POST', body: sub.toJSON() });
      pushState = enabled() ? 'on' : 'off';
    } catch (err) {
      console.warn('push subscription failed', err);
      pushState = 'unavailable';
    }
    changed();
  }

  async function enable() {
    if (!supported) throw new Error('This browser cannot show notifications.');
    const p = Notification.permission === 'granted' ? 'granted' : await Notification.requestPermission();
    if (p !== 'granted') throw new Error('Notifications are blocked for this site in your browser settings.');
    store.set(KEY, '1');
    subscribePush();
  }

  async function disable() {
    store.set(KEY, '0');
    const r = await registration();
    const sub = r && await r.pushManager?.getSubscription().catch(() => null);
    if (sub) {
      await api('/api/v1/push/subscriptions', { method: 'DELETE', body: { endpoint: sub.endpoint } }).catch(() => {});
      await sub.unsubscribe().catch(() => {});
    }
    pushState = 'off';
    changed();
  }

  function describe() {
    if (!supported) return 'This browser cannot show notifications.';
    if (Notification.permission === 'denied') return 'Notifications are blocked for this site in your browser settings.';
    if (!enabled()) return 'Notifications are off for this browser.';
    if (pushState === 'on') return 'On, also when Switchboard is closed (Web Push).';
    if (pushState === 'pending') return 'On while Switchboard is open. Setting up notifications for when it is closed…';
    if (pushState === 'unavailable') return 'On while Switchboard is open in a tab. (Web Push is not available in this browser.)';
    return 'On.';
  }

  /** Shows a system notification through the service worker when there is one. */
  async function show(title, options, convId) {
    const r = await registration();
    if (r && r.showNotification) {
      await r.showNotification(title, { ...options, data: { url: `/#/c/${convId}` } }).catch(() => {});
      return;
    }
    const n = new Notification(title, options);
    n.onclick = () => {
      window.focus();
      ui.open(convId);
      n.close();
    };
  }

  // A click on a notification shown by the service worker, while this page is open.
  const onSWMessage = (ev) => {
    const d = ev.data || {};
    if (d.type === 'open' && typeof d.url === 'string') {
      const m = /#\/c\/([A-Za-z0-9_-]+)/.exec(d.url);
      if (m) ui.open(m[1]);
    }
  };
  navigator.serviceWorker?.addEventListener('message', onSWMessage);

  const offs = [];
  offs.push(client.on('message', (msg, conv) => {
    const me = client.me?.id;
    if (!enabled() || msg.sender === me || msg.kind === 'system') return;
    if (ui.isLooking(conv.id) && document.visibilityState === 'visible') return;
    if (document.visibilityState === 'hidden' && pushState === 'on') return; // the push will come
    const mine = client.presence.get(me);
    if (mine && mine.status === 'dnd') return;
    const mentioned = msg.data?.mentions?.includes(me) || msg.data?.everyone;
    if (conv.muted && !mentioned) return;
    if (conv.kind === 'channel' && !mentioned) return;
    const title = conv.kind === 'direct' ? client.displayName(msg.sender) : `${client.displayName(msg.sender)} in ${conv.title}`;
    const body = msg.thread ? `In a thread: ${preview(msg, '', (id) => client.displayName(id))}` : preview(msg, '', (id) => client.displayName(id));
    show(title, { body: body.slice(0, 180), tag: conv.id, renotify: true }, conv.id);
  }));
  offs.push(client.on('incomingCall', (call) => {
    if (!enabled() || document.visibilityState === 'visible') return;
    show(client.displayName(call.from), { body: call.video ? 'Incoming video call' : 'Incoming call', tag: `call-${call.id}`, requireInteraction: true }, call.conversation);
  }));

  // Idle: a hidden page, or no input for five minutes. The server then shows us as away and pushes.
  let lastInput = Date.now();
  const onInput = () => {
    lastInput = Date.now();
    if (document.visibilityState === 'visible') client.setIdle(false);
  };
  const onVis = () => client.setIdle(document.visibilityState === 'hidden');
  const idleTimer = setInterval(() => {
    if (Date.now() - lastInput > 5 * 60 * 1000) client.setIdle(true);
  }, 30000);
  for (const ev of ['pointerdown', 'keydown']) document.addEventListener(ev, onInput, { passive: true });
  document.addEventListener('visibilitychange', onVis);

  if (enabled()) subscribePush();

  return {
    enabled,
    enable,
    disable,
    describe,
    /** Calls fn when the state changes; returns a function that stops that. */
    onChange(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    destroy() {
      for (const off of offs) off();
      clearInterval(idleTimer);
      for (const ev of ['pointerdown', 'keydown']) document.removeEventListener(ev, onInput);
      document.removeEventListener('visibilitychange', onVis);
      navigator.serviceWorker?.removeEventListener('message', onSWMessage);
    },
  };
}

// Switchboard's service worker: shows Web Push notifications and opens the app when one is clicked.
// Served from the site root (/sw.js) so its scope is the whole app. It caches nothing.
//
// Push payloads are JSON: {type: "message" | "mention" | "call", title, body, url, tag, conversationId}.

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

/** Only links into this app are followed. */
function safeURL(url) {
  try {
    const u = new URL(url || '/', self.location.origin);
    return u.origin === self.location.origin ? u.href : self.location.origin + '/';
  } catch {
    return self.location.origin + '/';
  }
}

self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = { title: 'Switchboard', body: event.data ? event.data.text() : '' };
  }
  const call = data.type === 'call';
  const options = {
    body: data.body || (call ? 'Incoming call' : 'New message'),
    tag: data.tag || undefined,
    renotify: !!data.tag,
    requireInteraction: call,
    data: { url: safeURL(data.url) },
  };
  event.waitUntil(self.registration.showNotification(data.title || 'Switchboard', options));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || safeURL('/');
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    // Prefer a tab that already shows the app: focus it and tell it what to open.
    for (const client of windows) {
      if (new URL(client.url).origin !== self.location.origin) continue;
      await client.focus();
      client.postMessage({ type: 'open', url });
      return;
    }
    await self.clients.openWindow(url);
  })());
});

/*
 * Switchboard contact widget: one script tag on any website (docs/contact.md, "The widget").
 *
 *   <script src="https://HOST/widget.js" data-widget="sales" async></script>
 *
 * data-widget names a widget an admin configured (or "@username", a person's contact link, on this
 * server's own pages); data-open="true" opens it at once. The page can also open it and start with a
 * medium: window.dispatchEvent(new CustomEvent('switchboard:start', {detail: {media: 'video'}})).
 *
 * A classic script with no dependencies at load: it draws a button in a Shadow DOM (the page's
 * styles and ours stay apart), asks the server whether agents are available, and loads the messaging SDK
 * from HOST only when the visitor starts. No cookies: the visitor's token lives in sessionStorage, so a
 * reload goes on with the same conversation. The host page can listen to what happens:
 *
 *   window.addEventListener('switchboard:contact', (e) => console.log(e.detail.type, e.detail));
 *
 * (open, close, started, queued, answered, message, ended, call). Texts can be changed per widget on the
 * server (widget "texts"), e.g. for another language.
 */
(function () {
  'use strict';
  const script = document.currentScript;
  if (!script) return;
  const HOST = new URL(script.src, location.href).origin;
  const WIDGET = script.dataset.widget || script.dataset.queue || '';
  const KEY = `switchboard:contact:${WIDGET}`;
  const API = `${HOST}/api/v1/contact`;

  const TEXTS = {
    chat: 'Chat with us', chatWith: 'Chat with {name}', hello: 'Hello! How can we help?', voice: 'Call us', video: 'Video call', phone: 'Call us by phone', message: 'Leave a message', closed: 'We are closed',
    opensAt: 'We open again {when}.', nobody: 'Nobody is available right now. Leave a message and we will get back to you.',
    name: 'Your name (optional)', email: 'Your e-mail, so that we can answer (optional)', start: 'Start', consentAccept: 'I agree', send: 'Send', typeHere: 'Type a message…',
    position: 'You are number {n} in line.', estimate: 'Expected wait: about {m} min.', waiting: 'Waiting for an agent…',
    joined: '{agent} is with you.', ended: 'The conversation has ended.', again: 'Start again', close: 'Close',
    leave: 'End chat', incoming: '{agent} invites you to a {media} call.', accept: 'Join', decline: 'Not now', hangup: 'Hang up',
    callback: 'We will call you back.', callMeBack: 'Call me back', callbackPhone: 'Your phone number, to be called on it (optional)',
    callbackAt: 'We will call you back on {phone}.', calling: 'Calling…', error: 'Something went wrong: {err}', blocked: 'This chat is not available on this site.',
  };
  let T = { ...TEXTS };
  const t = (k, vars = {}) => (T[k] || TEXTS[k] || k).replace(/\{(\w+)\}/g, (_, v) => String(vars[v] ?? ''));
  const emit = (type, detail = {}) => window.dispatchEvent(new CustomEvent('switchboard:contact', { detail: { type, widget: WIDGET, ...detail } }));

  // ---- DOM, in a shadow root (open: the host page's tests and tools may look in) ----
  const hostEl = document.createElement('div');
  hostEl.setAttribute('data-switchboard-widget', WIDGET);
  const root = hostEl.attachShadow({ mode: 'open' });
  root.innerHTML = `<style>
:host{all:initial}
*{box-sizing:border-box;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
.launch{position:fixed;right:20px;bottom:20px;z-index:2147483000;border:0;border-radius:24px;padding:12px 20px;background:#2563eb;color:#fff;font-weight:600;box-shadow:0 4px 16px rgba(0,0,0,.25);cursor:pointer}
.launch:focus-visible,button:focus-visible,input:focus-visible,textarea:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
.launch.off{background:#6b7280}
.panel{position:fixed;right:20px;bottom:80px;z-index:2147483000;width:min(360px,calc(100vw - 24px));height:min(520px,calc(100vh - 100px));display:flex;flex-direction:column;background:#fff;color:#111827;border-radius:12px;box-shadow:0 8px 32px rgba(0,0,0,.3);overflow:hidden}
.panel[hidden]{display:none}
header{display:flex;align-items:center;justify-content:space-between;padding:12px 14px;background:#2563eb;color:#fff}
header h2{margin:0;font-size:16px;font-weight:600}
header button{background:none;border:0;color:#fff;font-size:20px;cursor:pointer;line-height:1}
.body{flex:1;overflow:auto;padding:12px 14px;display:flex;flex-direction:column;gap:8px}
.note{color:#374151;background:#f3f4f6;border-radius:8px;padding:8px 10px}
.msg{max-width:85%;padding:7px 10px;border-radius:12px;white-space:pre-wrap;word-wrap:break-word}
.mine{align-self:flex-end;background:#2563eb;color:#fff}
.theirs{align-self:flex-start;background:#f3f4f6}
.sys{align-self:center;color:#6b7280;font-size:12px}
.who{display:block;font-size:11px;opacity:.75}
form{display:flex;gap:6px;padding:10px;border-top:1px solid #e5e7eb}
input,textarea{border:1px solid #d1d5db;border-radius:8px;padding:8px;resize:none;color:#111827;background:#fff}
form textarea{flex:1}
form[hidden],.launch[hidden]{display:none}
.hello{margin:0 0 4px;font-size:15px;font-weight:600}
label{display:flex;gap:8px;align-items:flex-start;color:#374151}
.btn{border:0;border-radius:8px;padding:8px 12px;background:#2563eb;color:#fff;font-weight:600;cursor:pointer}
.btn.alt{background:#e5e7eb;color:#111827}
.btn.red{background:#dc2626}
.row{display:flex;gap:6px;flex-wrap:wrap}
.video{position:relative;background:#111;border-radius:8px;overflow:hidden;min-height:180px}
.video video{width:100%;display:block}
.video video.self{position:absolute;right:6px;bottom:6px;width:30%;border:2px solid #fff;border-radius:6px}
</style>
<button class="launch" part="launcher" aria-expanded="false" aria-controls="sb-panel" hidden></button>
<section class="panel" id="sb-panel" role="dialog" aria-labelledby="sb-title" hidden>
  <header><h2 id="sb-title"></h2><button type="button" class="x" aria-label="Close">×</button></header>
  <div class="body" aria-live="polite"></div>
  <form hidden><textarea rows="1" aria-label="Message" maxlength="4000"></textarea><button class="btn" type="submit"></button></form>
</section>`;
  const $ = (sel) => root.querySelector(sel);
  const launch = $('.launch'), panel = $('.panel'), body = $('.body'), form = $('form'), input = $('textarea');
  const el = (tag, attrs = {}, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'text') e.textContent = v;
      else if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const k of kids) if (k) e.append(k);
    return e;
  };

  // ---- state ----
  let status = null;      // the widget's status from the server
  let token = sessionStorage.getItem(KEY) || '';
  let client = null;      // MessagingClient, once started
  let contact = null;     // our open contact (ContactView)
  let call = null;
  const shown = new Set(); // message seqs drawn

  async function api(path, init = {}) {
    const headers = { 'Content-Type': 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    const res = await fetch(API + path, { ...init, headers, credentials: 'omit' });
    const data = res.status === 204 ? null : await res.json().catch(() => null);
    if (!res.ok) {
      const err = new Error((data && data.message) || res.statusText);
      err.status = res.status;
      throw err;
    }
    return data;
  }

  function setLauncher() {
    const avail = status.available || {};
    const title = WIDGET.startsWith('@') ? t('chatWith', { name: status.title }) : (status.title || t('chat'));
    launch.textContent = !status.open ? t('closed') : avail.chat ? title : t('message');
    launch.classList.toggle('off', !status.open);
    launch.hidden = false;
  }

  function clear() { body.replaceChildren(); shown.clear(); }
  function note(text) { body.append(el('p', { class: 'note', text })); body.scrollTop = body.scrollHeight; }

  // The first screen: opening hours, or consent, name and the media to start with.
  function intro() {
    clear();
    form.hidden = true;
    if (!status.open) {
      note(t('closed'));
      if (status.nextOpen) note(t('opensAt', { when: new Date(status.nextOpen).toLocaleString() }));
      return;
    }
    const avail = status.available || {};
    body.append(el('p', { class: 'hello', text: t('hello') }));
    if (!avail.chat) note(t('nobody'));
    const name = el('input', { type: 'text', 'aria-label': t('name'), placeholder: t('name'), maxlength: '64', autocomplete: 'name' });
    const email = el('input', { type: 'email', 'aria-label': t('email'), placeholder: t('email'), maxlength: '254', autocomplete: 'email' });
    const consent = status.consent ? el('input', { type: 'checkbox', id: 'sb-consent' }) : null;
    const buttons = el('div', { class: 'row' });
    const media = (status.media && status.media.length ? status.media : ['chat']);
    for (const m of media) {
      if (m !== 'chat' && !avail[m]) continue;
      buttons.append(el('button', { type: 'button', class: m === 'chat' ? 'btn' : 'btn alt', 'data-media': m,
        text: m === 'chat' ? (avail.chat ? t('chat') : t('message')) : t(m),
        onclick: () => {
          if (consent && !consent.checked) { consent.focus(); return; }
          start(m, name.value, email.value);
        } }));
    }
    // "Call me back": the visitor keeps their place without waiting on the page. With a number (when
    // the server can call telephones) an agent calls that phone; without, the browser here.
    let tel = null;
    if (media.includes('voice') && !WIDGET.startsWith('@')) {
      tel = status.callbackPhone ? el('input', { type: 'tel', 'aria-label': t('callbackPhone'), placeholder: t('callbackPhone'), maxlength: '40', autocomplete: 'tel', 'data-callback-phone': '' }) : null;
      buttons.append(el('button', { type: 'button', class: 'btn alt', 'data-media': 'callback', text: t('callMeBack'),
        onclick: () => {
          if (consent && !consent.checked) { consent.focus(); return; }
          start('callback', name.value, email.value, tel ? tel.value : '');
        } }));
    }
    body.append(name);
    if (!avail.chat) body.append(email);
    if (tel) body.append(tel);
    if (consent) body.append(el('label', {}, consent, ' ', status.consent, ' — ', t('consentAccept')));
    body.append(buttons);
    name.focus();
  }

  async function start(media, name, email = '', phone = '') {
    try {
      const v = await api(`/widgets/${encodeURIComponent(WIDGET)}/visitors`, { method: 'POST', body: JSON.stringify({ name, email, resume: token }) });
      if (client && v.token !== token) { client.close(); client = null; } // its token is the old one
      token = v.token;
      sessionStorage.setItem(KEY, token);
      await connectClient();
      // Click-to-call: the widget's telephone, through the server; no agent, no conversation.
      if (media === 'phone') {
        emit('started', { media });
        placeCall(false, { clickToCall: true });
        return;
      }
      const ask = media === 'callback' ? { media: 'voice', callback: true, phone: phone.trim() } : { media };
      contact = await api('/visitor/contacts', { method: 'POST', body: JSON.stringify({ ...ask, page: location.href, referrer: document.referrer }) });
      emit('started', { media, contact: contact.id });
      showContact();
      // At a person's contact link the visitor calls them in the conversation; at a queue the agent
      // who answers calls the visitor.
      if (media !== 'chat' && WIDGET.startsWith('@')) placeCall(media === 'video');
    } catch (err) {
      note(t('error', { err: err.message }));
    }
  }

  async function connectClient() {
    if (client) return;
    const { MessagingClient } = await import(`${HOST}/sdk/messaging.js`);
    client = new MessagingClient(HOST, { visitorToken: token });
    client.on('contact', (m) => { if (m.contact && (!contact || m.contact.id === contact.id)) update(m.contact); });
    client.on('message', (msg) => { if (contact && msg.conversation === contact.conversation) drawMessage(msg); });
    const mine = (conv) => { if (contact && conv.id === contact.conversation) drawHistory(conv); };
    client.on('conversation', mine);
    client.on('history', mine);
    client.on('incomingCall', onCall);
    // After a reconnect (the network changed, the server restarted) ask again where the contact is.
    let first = true;
    client.on('ready', () => {
      if (first) { first = false; return; }
      if (contact) api('/visitor/contact').then((c) => update(c)).catch((err) => { if (err.status === 404) update({ ...contact, status: 'ended' }); });
    });
    await client.connect();
  }

  function showContact() {
    clear();
    form.hidden = contact.status === 'ended';
    update(contact, true);
    const conv = client && client.conversations.get(contact.conversation);
    if (conv) {
      drawHistory(conv);
      client.history(contact.conversation).catch(() => {});
    }
    input.focus();
  }

  function update(c, quiet) {
    const before = contact && contact.status;
    contact = c;
    if (!quiet && before === c.status && c.status !== 'waiting') return;
    switch (c.status) {
      case 'waiting':
      case 'offered': {
        const line = $('.line') || el('p', { class: 'note line' });
        line.textContent = `${t('waiting')} ${c.position ? t('position', { n: c.position }) : ''} ${c.waitKnown && c.waitEstimateSeconds ? t('estimate', { m: Math.max(1, Math.round(c.waitEstimateSeconds / 60)) }) : ''}`;
        if (!line.isConnected) body.prepend(line);
        if (before !== c.status) emit('queued', { position: c.position });
        break;
      }
      case 'in_progress':
        $('.line')?.remove();
        if (before !== 'in_progress') { note(t('joined', { agent: c.agentName || 'An agent' })); emit('answered', { agent: c.agentName }); }
        break;
      case 'message': $('.line')?.remove(); if (before !== c.status) note(t('nobody')); break;
      case 'callback':
        $('.line')?.remove();
        if (quiet || before !== c.status) note(c.visitor && c.visitor.phone ? t('callbackAt', { phone: c.visitor.phone }) : t('callback'));
        break;
      default: // ended, abandoned, closed
        $('.line')?.remove();
        form.hidden = true;
        note(t('ended'));
        body.append(el('button', { type: 'button', class: 'btn alt', text: t('again'), onclick: () => { contact = null; intro(); } }));
        emit('ended', { status: c.status });
        break;
    }
  }

  function drawHistory(conv) {
    for (const m of conv.messages || []) drawMessage(m);
  }

  function drawMessage(m) {
    if (shown.has(m.seq) || (m.kind !== 'text' && m.kind !== 'call')) return;
    shown.add(m.seq);
    const mine = client && client.me && m.sender === client.me.id;
    const who = mine ? '' : (contact.agent === m.sender && contact.agentName) || 'Agent';
    const text = m.kind === 'call' ? `📞 ${m.data?.video ? t('video') : t('voice')}` : (m.text || '');
    body.append(el('div', { class: `msg ${mine ? 'mine' : 'theirs'}`, 'data-seq': String(m.seq) }, mine ? null : el('span', { class: 'who', text: who }), text));
    body.scrollTop = body.scrollHeight;
    if (!mine) emit('message', { text });
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text || !contact) return;
    input.value = '';
    client.send(contact.conversation, text).catch((err) => note(t('error', { err: err.message })));
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });

  // An agent turns the chat into a call.
  function onCall(c) {
    if (!contact || c.conversation !== contact.conversation) { c.decline().catch(() => {}); return; }
    call = c;
    const media = c.video ? t('video') : t('voice');
    const box = el('div', { class: 'note call' }, t('incoming', { agent: contact.agentName || 'Agent', media: media.toLowerCase() }));
    const row = el('div', { class: 'row' },
      el('button', { type: 'button', class: 'btn', 'data-action': 'accept-call', text: t('accept'), onclick: () => joinCall(box) }),
      el('button', { type: 'button', class: 'btn alt', text: t('decline'), onclick: () => { c.decline().catch(() => {}); box.remove(); } }));
    box.append(row);
    body.append(box);
    body.scrollTop = body.scrollHeight;
    c.on('ended', () => { box.remove(); emit('call', { state: 'ended' }); });
    emit('call', { state: 'ringing', video: c.video });
  }

  async function placeCall(video, target = { conversation: contact.conversation }) {
    const box = el('div', { class: 'note call', 'data-call': target.clickToCall ? 'phone' : 'contact' }, t('calling'));
    body.append(box);
    try {
      call = await client.call(target, { video });
      call.on('ended', () => { box.remove(); emit('call', { state: 'ended' }); });
      await joinCall(box, false);
    } catch (err) {
      box.remove();
      note(t('error', { err: err.message }));
    }
  }

  async function joinCall(box, answer = true) {
    box.replaceChildren();
    const view = el('div', { class: 'video' });
    const hang = el('button', { type: 'button', class: 'btn red', text: t('hangup'), onclick: () => call.hangup().catch(() => {}) });
    box.append(view, hang);
    try {
      if (answer) await call.answer();
      const room = await call.join();
      // A call with an agent is two people: when they leave, so do we.
      room.on('participantLeft', () => { if (room.participants.size === 0) call.hangup().catch(() => {}); });
      room.on('track', (ev) => {
        if (!ev.track) return;
        const media = el(ev.kind === 'video' ? 'video' : 'audio', { 'data-remote': ev.kind });
        view.append(media);
        room.attach(ev.id, media);
      });
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: !!call.video });
      await room.publish(stream);
      if (call.video) {
        const self = el('video', { class: 'self', muted: '' });
        self.muted = true;
        self.srcObject = stream;
        self.play().catch(() => {});
        view.append(self);
      }
      call.on('ended', () => stream.getTracks().forEach((tr) => tr.stop()));
      emit('call', { state: 'active', video: call.video });
    } catch (err) {
      note(t('error', { err: err.message }));
    }
  }

  function openPanel(open) {
    panel.hidden = !open;
    launch.setAttribute('aria-expanded', String(open));
    emit(open ? 'open' : 'close');
    if (!open) { launch.focus(); return; }
    if (contact) showContact(); else intro();
  }
  launch.addEventListener('click', () => openPanel(panel.hidden));
  // The host page can open the widget, and start with a medium (a contact link's buttons).
  window.addEventListener('switchboard:start', (e) => {
    if (!status) return;
    if (panel.hidden) openPanel(true);
    if (!contact) start((e.detail && e.detail.media) || 'chat', '');
  });
  $('.x').addEventListener('click', () => openPanel(false));
  panel.addEventListener('keydown', (e) => { if (e.key === 'Escape') openPanel(false); });

  async function init() {
    try {
      status = await api(`/widgets/${encodeURIComponent(WIDGET)}/status`);
    } catch (err) {
      console.warn('switchboard widget:', err.status === 403 ? t('blocked') : err.message);
      return;
    }
    T = { ...TEXTS, ...(status.texts || {}) };
    $('#sb-title').textContent = status.title || t('chat');
    $('form .btn').textContent = t('send');
    input.placeholder = t('typeHere');
    $('.x').setAttribute('aria-label', t('close'));
    setLauncher();
    document.body.append(hostEl);
    // After a reload: the conversation goes on.
    if (token) {
      try {
        contact = await api('/visitor/contact');
        await connectClient();
        openPanel(true);
      } catch (err) {
        contact = null;
        if (err.status === 401) { token = ''; sessionStorage.removeItem(KEY); }
      }
    }
    if (script.dataset.open === 'true' && panel.hidden) openPanel(true);
  }
  if (document.body) init(); else document.addEventListener('DOMContentLoaded', init);
})();

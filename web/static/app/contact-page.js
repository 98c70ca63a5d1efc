// The public pages of customer contact (docs/contact.md): a person's contact link, /c/<username>, and
// the contact portal, /contact, listing the teams and people a visitor may reach. Both embed the widget
// (/widget.js) from this server, which does the talking.
const main = document.getElementById('main');
const STATUS = { available: 'Available', away: 'Away', busy: 'Busy', dnd: 'Do not disturb', in_call: 'In a call', offline: 'Offline' };
const COLORS = ['#2563eb', '#7c3aed', '#db2777', '#ea580c', '#059669', '#0891b2'];

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') e.textContent = v;
    else if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k) e.append(k);
  return e;
}

async function getJSON(path) {
  const res = await fetch(path, { credentials: 'omit' });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.message || res.statusText);
  return data;
}

function statusLine(status) {
  if (!status) return null;
  return el('span', { class: 'status', 'data-testid': 'person-status' }, el('span', { class: `dot ${status}`, 'aria-hidden': 'true' }), STATUS[status] || status);
}

/** Loads the widget for `widget` (a queue's widget id, or "@username"). */
function loadWidget(widget, open) {
  const s = document.createElement('script');
  s.src = '/widget.js';
  s.async = true;
  s.dataset.widget = widget;
  if (open) s.dataset.open = 'true';
  document.body.append(s);
}

function start(media) {
  window.dispatchEvent(new CustomEvent('switchboard:start', { detail: { media } }));
}

async function personPage(handle) {
  const p = await getJSON(`/api/v1/contact/people/${encodeURIComponent(handle)}`);
  document.title = `${p.name} · Contact`;
  const initials = p.name.split(/\s+/).map((w) => w[0] || '').join('').slice(0, 2).toUpperCase();
  const color = COLORS[[...p.handle].reduce((a, c) => a + c.charCodeAt(0), 0) % COLORS.length];
  const reachable = !p.status || p.status === 'available';
  const buttons = el('div', { class: 'actions' },
    el('button', { type: 'button', 'data-testid': 'contact-chat', text: 'Chat', onclick: () => start('chat') }),
    el('button', { type: 'button', class: 'alt', 'data-testid': 'contact-voice', text: 'Call', onclick: () => start('voice'), ...(reachable ? {} : { disabled: '' }) }),
    el('button', { type: 'button', class: 'alt', 'data-testid': 'contact-video', text: 'Video call', onclick: () => start('video'), ...(reachable ? {} : { disabled: '' }) }));
  main.replaceChildren(
    el('section', { class: 'card', 'data-testid': 'contact-card' },
      el('div', { class: 'avatar', style: `background:${color}`, 'aria-hidden': 'true', text: initials }),
      el('div', {}, el('h1', { text: p.name }), statusLine(p.status),
        reachable ? null : el('p', { class: 'muted', text: 'Leave a message; they will see it when they are back.' }), buttons)),
    el('footer', { text: 'Nothing to install: chat and calls happen in this page.' }));
  loadWidget(`@${p.handle}`, false);
}

async function portalPage(queue) {
  if (queue) loadWidget(queue, true);
  const portal = await getJSON('/api/v1/contact/portal');
  const teams = el('ul', { 'data-testid': 'portal-queues' });
  for (const q of portal.queues) {
    const avail = q.available || {};
    teams.append(el('li', {},
      el('div', {}, el('strong', { text: q.title }), el('div', { class: 'muted', text: !q.open ? 'Closed now' : avail.chat ? 'Agents available' : 'Leave a message' })),
      el('a', { class: 'btn', href: `/contact?queue=${encodeURIComponent(q.widget)}`, text: 'Contact' })));
  }
  const people = el('ul', { 'data-testid': 'portal-people' });
  for (const p of portal.people) {
    people.append(el('li', {}, el('div', {}, el('strong', { text: p.name }), el('div', {}, statusLine(p.status))),
      el('a', { class: 'btn alt', href: `/c/${encodeURIComponent(p.handle)}`, text: 'Contact' })));
  }
  main.replaceChildren(el('h1', { text: 'Contact us' }),
    el('h2', { text: 'Teams' }), portal.queues.length ? teams : el('p', { class: 'muted', text: 'No teams are listed.' }),
    el('h2', { text: 'People' }), portal.people.length ? people : el('p', { class: 'muted', text: 'Nobody is listed.' }));
}

const m = location.pathname.match(/^\/c\/([^/]+)\/?$/);
(m ? personPage(decodeURIComponent(m[1])) : portalPage(new URLSearchParams(location.search).get('queue')))
  .catch((err) => main.replaceChildren(el('p', { text: `This page is not available: ${err.message}` })));

// What the agent console and the supervisor dashboard share: the page frame (brand, title, links
// between the workspace, the console and the dashboard), the names of agent states, and short
// formats for waits and times.
import { h, icon, logo } from './ui.js';

/**
 * The address of the contact settings (contact-settings.js): the server serves the app at
 * /supervisor, and the router (main.js) opens the settings for its #settings.
 */
export const SETTINGS_PATH = '/supervisor#settings';

/** Agent states, as the console's selector and the dashboard show them. */
export const AGENT_STATES = [
  { value: 'available', label: 'Available', hint: 'Offers ring here.' },
  { value: 'paused', label: 'Paused', hint: 'No new offers; your contacts stay.' },
  { value: 'busy', label: 'Busy', hint: 'No new offers while you do other work.' },
  { value: 'offline', label: 'Offline', hint: 'Out of every queue.' },
];
export const STATE_LABEL = { available: 'Available', paused: 'Paused', busy: 'Busy', offline: 'Offline', wrap_up: 'Wrap-up' };
export const MEDIA_LABEL = { chat: 'Chat', voice: 'Voice', video: 'Video' };
export const STATUS_LABEL = {
  waiting: 'Waiting', offered: 'Ringing', in_progress: 'In progress', wrap_up: 'Wrap-up', ended: 'Ended', abandoned: 'Abandoned',
  overflowed: 'Overflowed', closed: 'Closed', message: 'Message', callback: 'Callback',
};

/** "45 s", "3 min 5 s", "1 h 2 min": for waits, where seconds matter. */
export function waitText(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min${s % 60 ? ` ${s % 60} s` : ''}`;
  return `${Math.floor(m / 60)} h${m % 60 ? ` ${m % 60} min` : ''}`;
}

/** Seconds since an RFC 3339 time (0 when it is missing or in the future). */
export function secondsSince(at, now = Date.now()) {
  const t = new Date(at).getTime();
  return Number.isFinite(t) ? Math.max(0, (now - t) / 1000) : 0;
}

/** "3 Dec, 14:05" (the year when it is not this one). */
export function dateTime(at) {
  const d = new Date(at);
  if (!at || Number.isNaN(d.getTime())) return '';
  const o = { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' };
  if (d.getFullYear() !== new Date().getFullYear()) o.year = 'numeric';
  return d.toLocaleString([], o);
}

/** A percentage of a 0..1 rate: "93 %" (one decimal under 10 %). */
export function percent(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  const p = v * 100;
  return `${p > 0 && p < 10 ? p.toFixed(1) : Math.round(p)} %`;
}

/**
 * The frame of the console and the dashboard: a top bar with the brand, the page's name, links to
 * the other pages the person may open, and a slot for the page's own controls.
 * @param {{title: string, page: 'console'|'supervisor'|'settings', role: string, navigate: (path: string) => void, controls?: Node[]}} o
 * @returns {{el: HTMLElement, main: HTMLElement, bar: HTMLElement}}
 */
export function pageFrame(o) {
  const link = (path, label, iconName, testid, page) => {
    const a = h('a.cc-nav-link', { href: path, 'data-testid': testid, 'aria-current': page === o.page ? 'page' : null },
      icon(iconName, { size: 18 }), h('span', { text: label }));
    a.addEventListener('click', (ev) => {
      if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
      ev.preventDefault();
      o.navigate(path);
    });
    return a;
  };
  const nav = h('nav.cc-nav', { 'aria-label': 'Pages' },
    link('/', 'Messages', 'chat', 'nav-workspace', 'workspace'),
    o.role === 'agent' || o.role === 'admin' ? link('/console', 'Agent console', 'headset', 'nav-console', 'console') : null,
    o.role === 'admin' ? link('/supervisor', 'Supervisor', 'chart', 'nav-supervisor', 'supervisor') : null,
    o.role === 'admin' ? link(SETTINGS_PATH, 'Contact settings', 'settings', 'nav-settings', 'settings') : null);
  const bar = h('div.cc-controls', null, o.controls || []);
  const header = h('header.cc-top', null,
    h('a.brand', { href: '/', 'aria-label': 'Switchboard home', onclick: (ev) => { ev.preventDefault(); o.navigate('/'); } }, logo(26)),
    h('h1.cc-title', { text: o.title }),
    nav, h('span.spacer'), bar);
  const main = h('main.cc-main', { id: 'main', tabindex: '-1' });
  const el = h(`div.cc-page.cc-${o.page}`, { 'data-testid': `${o.page}-page` }, header, main);
  return { el, main, bar };
}

/** A page for someone whose role does not open this one. */
export function notAllowed(root, { title, text, navigate }) {
  root.appendChild(h('div.center-page', null, h('main.center-card', { id: 'main', 'data-testid': 'not-allowed' },
    h('h1', { text: title }), h('p.muted', { text }),
    h('div.btn-row', null, h('button.btn.btn-primary', { type: 'button', text: 'Back to messages', onclick: () => navigate('/') })))));
}

// Switchboard web app: a small router over the screens.
//
//   /m/{room}          a meeting (anyone with the link)
//   /setup?code=...    first-run setup          /invite/{token}   accept an invitation
//   /login             sign in
//   /                  signed in: the workspace (#/c/{conversation}); signed out: home (meetings + sign-in)
//   /console           signed in, agents and admins: the agent console (console.js)
//   /supervisor        signed in, admins: the supervisor dashboard (supervisor.js)
//   /supervisor#settings  signed in, admins: the contact settings (contact-settings.js): queues, widgets, agents
//   /phone             signed in: the dialer and call history (phone.js)
//   /telephony         signed in, admins: SIP accounts, trunks, numbers, call records (telephony.js)
//
// Once signed in, one messaging connection serves the whole page: incoming calls ring on every screen.
// The workspace's modules load only then, so meeting links and the signed-out home stay light.
import { renderHome } from './home.js';
import { startMeeting } from './meeting.js';
import { renderSignIn, renderSetup, renderInvite } from './auth.js';
import { session, loadSession, getClient, signOut } from './session.js';
import { h, logo, toast } from './ui.js';

const ROOM_RE = /^\/m\/([A-Za-z0-9_-]{1,64})\/?$/;
const INVITE_RE = /^\/invite\/([A-Za-z0-9_-]{1,128})\/?$/;
const CONTACT_PAGES = { '/console': 'console', '/supervisor': 'supervisor', '/phone': 'phone', '/telephony': 'telephony' };
const SETTINGS_HASH = '#settings';
/** The contact page at this address: the settings are the supervisor's address with #settings. */
function contactPageAt(path, hash) {
  const page = CONTACT_PAGES[path.replace(/\/$/, '')] || '';
  return page === 'supervisor' && hash === SETTINGS_HASH ? 'settings' : page;
}
/** What identifies a screen: the path and query, and the #settings of the contact settings. */
const routeKey = () => location.pathname + location.search + (contactPageAt(location.pathname, location.hash) === 'settings' ? SETTINGS_HASH : '');
const root = document.getElementById('app');
let current = null;
let routeSeq = 0;
let routedPath = '';

/** Signed-in services that outlive screens: calls and notifications. */
const services = { calls: null, notifier: null, workspace: null };

/** Navigates within the app without reloading. */
export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState({}, '', path);
  else history.pushState({}, '', path);
  route();
}

function show(factory) {
  if (current && current.destroy) {
    try { current.destroy(); } catch (err) { console.error(err); }
  }
  current = null;
  while (root.firstChild) root.removeChild(root.firstChild);
  current = factory() || null;
}

function loadingScreen() {
  root.appendChild(h('div.center-page', null,
    h('header.topbar', null, h('a.brand', { href: '/', 'aria-label': 'Switchboard home' }, logo(28), h('span.brand-name', { text: 'Switchboard' }))),
    h('main.center-card', { id: 'main', role: 'status' }, h('div.spinner', { 'aria-hidden': 'true' }), h('p.muted', { text: 'Connecting…' }))));
  return null;
}

/** Starts what a signed-in page needs once: the messaging connection, calls, notifications. */
async function startSignedIn() {
  const [{ installCalls }, { createNotifier }] = await Promise.all([import('./calls.js'), import('./notify.js')]);
  const client = await getClient((c) => {
    services.calls = installCalls(c);
    window.__sbCalls = services.calls; // for tests: start({phone}) until the dialer exists
    services.notifier = createNotifier(c, {
      isLooking: (id) => !!services.workspace && services.workspace.isLooking(id),
      open: (id) => {
        if (location.pathname !== '/') navigate(`/#/c/${id}`);
        else location.hash = `#/c/${id}`;
      },
    });
    c.on('connection', (s) => {
      if (s === 'unauthorized') toast('You were signed out. Sign in again.', { kind: 'error' });
    });
  });
  return client;
}

function stopSignedIn() {
  services.calls?.destroy();
  services.notifier?.destroy();
  services.calls = null;
  services.notifier = null;
}

async function doSignOut() {
  stopSignedIn();
  try {
    await signOut();
  } catch (err) {
    toast(`Could not sign out: ${err.message}`, { kind: 'error' });
  }
  navigate('/', { replace: true });
}

async function route() {
  const seq = ++routeSeq;
  const path = location.pathname;
  routedPath = routeKey();
  const room = ROOM_RE.exec(path);
  if (room) {
    const params = new URLSearchParams(location.search);
    const hash = new URLSearchParams(location.hash.replace(/^#/, ''));
    const token = params.get('token') || hash.get('token') || undefined;
    services.workspace = null;
    show(() => startMeeting(root, { roomId: room[1], token, navigate }));
    return;
  }
  document.title = 'Switchboard';
  if (path === '/setup') {
    services.workspace = null;
    show(() => renderSetup(root, { navigate }));
    return;
  }
  const invite = INVITE_RE.exec(path);
  if (invite) {
    services.workspace = null;
    show(() => renderInvite(root, { navigate, token: invite[1] }));
    return;
  }
  let user = null;
  if (!session.checked) show(loadingScreen);
  try {
    user = await loadSession({ force: !session.checked || !session.user });
  } catch {
    user = null;
  }
  if (seq !== routeSeq) return;
  if (path === '/login' && !user) {
    services.workspace = null;
    show(() => renderSignIn(root, { navigate }));
    return;
  }
  if (!user) {
    services.workspace = null;
    show(() => renderHome(root, { navigate }));
    return;
  }
  // The contact centre's pages: the agent console, the supervisor dashboard and the contact settings.
  const page = contactPageAt(path, location.hash);
  if (path !== '/' && !page) {
    history.replaceState({}, '', `/${location.hash}`);
    routedPath = '/';
  }
  // Signed in: the workspace, once the messaging connection is up.
  let client;
  if (!session.client || session.client.state !== 'connected') show(loadingScreen);
  try {
    client = await startSignedIn();
  } catch (err) {
    if (seq !== routeSeq) return;
    stopSignedIn();
    if (err.code === 'unauthorized') {
      session.user = null;
      show(() => renderHome(root, { navigate }));
    } else {
      show(() => {
        const retry = h('button.btn.btn-primary', { type: 'button', text: 'Try again', onclick: () => route() });
        root.appendChild(h('div.center-page', null, h('main.center-card', { id: 'main' },
          h('h1', { text: 'Could not connect' }), h('p.muted', { text: err.message }), retry)));
        return null;
      });
    }
    return;
  }
  if (page) {
    const loaders = { console: () => import('./console.js'), supervisor: () => import('./supervisor.js'), settings: () => import('./contact-settings.js'),
      phone: () => import('./phone.js'), telephony: () => import('./telephony.js') };
    const mod = await loaders[page]();
    if (seq !== routeSeq) return;
    services.workspace = null;
    const opts = { client, calls: services.calls, navigate };
    const render = { console: 'renderConsole', supervisor: 'renderSupervisor', settings: 'renderContactSettings', phone: 'renderPhone', telephony: 'renderTelephony' };
    show(() => mod[render[page]](root, opts));
    return;
  }
  const { renderWorkspace } = await import('./workspace.js');
  if (seq !== routeSeq) return;
  show(() => {
    services.workspace = renderWorkspace(root, { client, calls: services.calls, notifier: services.notifier, navigate, signOut: doSignOut });
    return services.workspace;
  });
}

/** Whether only the #fragment changed, to something that is not a route (the skip link's #main). */
const notARoute = () => routeKey() === routedPath && !!location.hash && !location.hash.startsWith('#/');

window.addEventListener('popstate', () => {
  // A change of the #fragment fires popstate too: within the workspace, hashchange handles it.
  if (notARoute() || (services.workspace && current === services.workspace && location.pathname === '/')) return;
  route();
});
window.addEventListener('hashchange', () => {
  if (notARoute()) return;
  if (services.workspace && current === services.workspace && location.pathname === '/') services.workspace.onHash();
  else if (routeKey() !== routedPath || location.pathname === '/') route();
});
route();

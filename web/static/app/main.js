// Switchboard web app: a tiny router over three screens (home, meeting, not found).
import { renderHome } from './home.js';
import { startMeeting } from './meeting.js';

const ROOM_RE = /^\/m\/([A-Za-z0-9_-]{1,64})\/?$/;
const root = document.getElementById('app');
let current = null;

/** Navigates within the app without reloading. */
export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState({}, '', path);
  else history.pushState({}, '', path);
  route();
}

function route() {
  if (current && current.destroy) {
    try { current.destroy(); } catch (err) { console.error(err); }
  }
  current = null;
  while (root.firstChild) root.removeChild(root.firstChild);
  const m = ROOM_RE.exec(location.pathname);
  if (m) {
    const params = new URLSearchParams(location.search);
    const hash = new URLSearchParams(location.hash.replace(/^#/, ''));
    const token = params.get('token') || hash.get('token') || undefined;
    current = startMeeting(root, { roomId: m[1], token, navigate });
  } else {
    document.title = 'Switchboard';
    current = renderHome(root, { navigate });
  }
}

window.addEventListener('popstate', route);
route();

// The signed-in person: the cookie session, the REST helper, and the one messaging client of the page.

/** What we know about the session; `client` is created once and survives navigation within the app. */
export const session = {
  /** @type {{id: string, username: string, displayName: string, role: string}|null} */
  user: null,
  csrf: '',
  /** @type {MessagingClient|null} */
  client: null,
  checked: false,
};

/** An error from the REST API: `code` and `status` from the answer. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `request failed (${status})`);
    this.status = status;
    this.code = code;
  }
}

/**
 * Calls the REST API (same origin, cookie session). Bodies that are plain objects are sent as JSON;
 * state-changing requests carry the CSRF token. Both error shapes are understood: `{code, message}`
 * and `{error: {code, message}}`.
 * @param {string} path
 * @param {{method?: string, body?: any, headers?: Object}} [opts]
 */
export async function api(path, opts = {}) {
  const method = (opts.method || 'GET').toUpperCase();
  const headers = { ...(opts.headers || {}) };
  let body = opts.body;
  if (body && typeof body === 'object' && !(body instanceof Blob) && !(body instanceof FormData)) {
    body = JSON.stringify(body);
    headers['Content-Type'] = 'application/json';
  }
  if (method !== 'GET' && method !== 'HEAD' && session.csrf) headers['X-CSRF-Token'] = session.csrf;
  let res;
  try {
    res = await fetch(path, { method, headers, body, credentials: 'same-origin' });
  } catch {
    throw new ApiError(0, 'network', 'Could not reach the server. Check your connection.');
  }
  if (res.status === 204) return {};
  let data = null;
  try { data = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) {
    const e = (data && (data.error || data)) || {};
    throw new ApiError(res.status, e.code || `http_${res.status}`, e.message || `The server answered ${res.status}.`);
  }
  return data || {};
}

function remember(s) {
  session.user = s.user;
  session.csrf = s.csrfToken;
  session.checked = true;
  return s.user;
}

/** Asks the server who we are; null when signed out. Cached after the first answer. */
export async function loadSession({ force = false } = {}) {
  if (session.checked && !force) return session.user;
  try {
    return remember(await api('/api/v1/auth/session'));
  } catch (err) {
    if (err.status === 401) {
      session.user = null;
      session.checked = true;
      return null;
    }
    throw err;
  }
}

/** Signs in with a password (and a TOTP code when the account needs one). */
export async function login(username, password, totp) {
  const body = { username, password };
  if (totp) body.totp = totp;
  return remember(await api('/api/v1/auth/login', { method: 'POST', body }));
}

/** First-run setup: creates the first admin with the code from the server's log. */
export async function setup(fields) {
  return remember(await api('/api/v1/auth/setup', { method: 'POST', body: fields }));
}

/** Creates an account from an invitation and signs in. */
export async function acceptInvite(fields) {
  return remember(await api('/api/v1/auth/accept-invite', { method: 'POST', body: fields }));
}

/** Signs out: ends the session and closes the messaging connection. */
export async function signOut() {
  try {
    await api('/api/v1/auth/logout', { method: 'POST' });
  } finally {
    session.client?.close();
    session.client = null;
    session.user = null;
    session.csrf = '';
  }
}

let connecting = null;

/**
 * The page's messaging client, connected (created on first use).
 * @param {(client: MessagingClient) => void} [onCreate] called once, before connecting
 * @returns {Promise<MessagingClient>}
 */
export async function getClient(onCreate) {
  if (session.client && session.client.state !== 'closed' && session.client.state !== 'unauthorized') {
    return connecting || session.client;
  }
  const { MessagingClient } = await import('/sdk/messaging.js');
  if (session.client && session.client.state !== 'closed' && session.client.state !== 'unauthorized') {
    return connecting || session.client; // another caller created it meanwhile
  }
  const debug = (() => { try { return localStorage.getItem('sb.debug') === '1'; } catch { return false; } })();
  const client = new MessagingClient('', { csrfToken: session.csrf, user: session.user, debug });
  session.client = client;
  window.__sbChat = client; // for tests and the console
  onCreate?.(client);
  connecting = client.connect().then(() => client).finally(() => { connecting = null; });
  return connecting;
}

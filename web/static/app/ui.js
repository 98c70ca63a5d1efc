// Small DOM helpers. User content is only ever set with textContent (never innerHTML).

/**
 * Creates an element.
 * @param {string} tag  e.g. 'button' or 'div.tile.speaking'
 * @param {Object} [props] attributes; special keys: class, text, dataset, style, on{Event} handlers, and
 *   DOM properties given as `prop:name`.
 * @param {...(Node|string|null|undefined|false|Array)} children strings become text nodes
 * @returns {HTMLElement}
 */
export function h(tag, props, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = [el.className, v].filter(Boolean).join(' ');
      else if (k === 'text') el.textContent = String(v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
      else if (k.startsWith('prop:')) el[k.slice(5)] = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** Removes all children. */
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** Human-readable byte size. */
export function formatSize(n) {
  if (!Number.isFinite(n)) return '';
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** Clock time (HH:MM) in the user's locale. */
export function formatTime(date) {
  const d = date instanceof Date ? date : new Date(date);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** Up to two initials for an avatar. */
export function initials(name) {
  const parts = String(name || '?').trim().split(/\s+/).filter(Boolean);
  if (!parts.length) return '?';
  const first = Array.from(parts[0])[0] || '?';
  const last = parts.length > 1 ? Array.from(parts[parts.length - 1])[0] || '' : '';
  return (first + last).toUpperCase();
}

/** A stable pleasant colour for a participant's avatar. */
export function avatarColor(key) {
  const colors = ['#1e8e3e', '#d93025', '#1a73e8', '#e37400', '#9334e6', '#007b83', '#c5221f', '#185abc', '#b06000', '#5f6368'];
  let hsh = 0;
  for (const ch of String(key || '')) hsh = (hsh * 31 + ch.codePointAt(0)) >>> 0;
  return colors[hsh % colors.length];
}

const TOASTS = { el: null };

/**
 * Shows a transient notification (announced by screen readers via aria-live).
 * @param {string} text
 * @param {{kind?: 'info'|'error', timeout?: number}} [opts]
 */
export function toast(text, opts = {}) {
  if (!TOASTS.el || !TOASTS.el.isConnected) {
    TOASTS.el = h('div.toasts', { role: 'status', 'aria-live': 'polite' });
    document.body.appendChild(TOASTS.el);
  }
  const t = h(`div.toast${opts.kind === 'error' ? '.toast-error' : ''}`, { text });
  TOASTS.el.appendChild(t);
  while (TOASTS.el.children.length > 4) TOASTS.el.firstChild.remove();
  setTimeout(() => {
    t.classList.add('toast-out');
    setTimeout(() => t.remove(), 300);
  }, opts.timeout || 4000);
}

/** Copies text to the clipboard; falls back to a hidden textarea. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const ta = h('textarea', { style: { position: 'fixed', opacity: '0' }, readonly: true });
    ta.value = text;
    document.body.appendChild(ta);
    ta.select();
    let ok = false;
    try { ok = document.execCommand('copy'); } catch { ok = false; }
    ta.remove();
    return ok;
  }
}

/** Whether a keyboard event happens while typing in a field. */
export function isTyping(ev) {
  const t = ev.target;
  if (!t || !(t instanceof Element)) return false;
  return t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName);
}

export { icon, logo } from './icons.js';

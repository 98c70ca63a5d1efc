// A small built-in emoji picker: a popover of buttons, keyboard navigable, closed by Esc or a click
// outside. Used by the composer and for reactions.
import { h } from './ui.js';

/** The built-in set, with names for screen readers and filtering. */
export const EMOJI = [
  ['👍', 'thumbs up'], ['❤️', 'heart'], ['😂', 'tears of joy'], ['🎉', 'party'], ['😮', 'surprised'], ['😢', 'sad'],
  ['🙏', 'thank you'], ['👀', 'eyes'], ['🔥', 'fire'], ['✅', 'done'], ['👏', 'clap'], ['🙌', 'hooray'],
  ['😀', 'grin'], ['😅', 'sweat smile'], ['😊', 'smile'], ['😍', 'love'], ['🤔', 'thinking'], ['😎', 'cool'],
  ['🙂', 'slight smile'], ['😉', 'wink'], ['😬', 'grimace'], ['🥳', 'celebrate'], ['😴', 'sleepy'], ['🤯', 'mind blown'],
  ['👌', 'ok'], ['👋', 'wave'], ['🤝', 'handshake'], ['💯', 'hundred'], ['🚀', 'rocket'], ['✨', 'sparkles'],
  ['💡', 'idea'], ['📌', 'pin'], ['☕', 'coffee'], ['⚠️', 'warning'], ['❌', 'no'], ['➕', 'plus one'],
];

/** The six offered first for a quick reaction. */
export const QUICK = ['👍', '❤️', '😂', '🎉', '😮', '👀'];

let open = null;

/** Closes the open picker, if any. */
export function closePicker() {
  if (!open) return;
  const { el, onKey, onDown, restore } = open;
  open = null;
  el.remove();
  document.removeEventListener('keydown', onKey, true);
  document.removeEventListener('pointerdown', onDown, true);
  if (restore && restore.isConnected) restore.focus({ preventScroll: true });
}

/**
 * Opens the picker next to `anchor`; `onPick(emoji)` is called with the chosen one.
 * @param {HTMLElement} anchor
 * @param {(emoji: string) => void} onPick
 * @param {{label?: string}} [opts]
 */
export function openPicker(anchor, onPick, opts = {}) {
  if (open && open.anchor === anchor) {
    closePicker();
    return;
  }
  closePicker();
  const grid = h('div.emoji-grid', { role: 'grid', 'aria-label': opts.label || 'Emoji' });
  const buttons = EMOJI.map(([e, name]) => h('button.emoji-btn', {
    type: 'button', 'aria-label': name, title: name, 'data-testid': 'emoji-option', 'data-emoji': e, text: e,
    onclick: (ev) => {
      ev.stopPropagation();
      closePicker();
      onPick(e);
    },
  }));
  grid.append(...buttons);
  const el = h('div.emoji-picker', { role: 'dialog', 'aria-label': opts.label || 'Choose an emoji', 'data-testid': 'emoji-picker' }, grid);
  document.body.appendChild(el);
  // Place it above the anchor when there is room, else below; keep it on screen.
  const r = anchor.getBoundingClientRect();
  const pw = el.offsetWidth;
  const ph = el.offsetHeight;
  let top = r.top - ph - 8;
  if (top < 8) top = Math.min(window.innerHeight - ph - 8, r.bottom + 8);
  let left = Math.min(window.innerWidth - pw - 8, Math.max(8, r.left + r.width / 2 - pw / 2));
  el.style.top = `${Math.max(8, top)}px`;
  el.style.left = `${left}px`;
  const cols = 6;
  const onKey = (ev) => {
    if (ev.key === 'Escape') {
      ev.preventDefault();
      ev.stopPropagation();
      closePicker();
      return;
    }
    const i = buttons.indexOf(document.activeElement);
    if (i < 0) return;
    const move = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: cols, ArrowUp: -cols }[ev.key];
    if (move) {
      ev.preventDefault();
      buttons[Math.min(buttons.length - 1, Math.max(0, i + move))].focus();
    }
  };
  const onDown = (ev) => {
    if (!el.contains(ev.target) && ev.target !== anchor && !anchor.contains(ev.target)) closePicker();
  };
  document.addEventListener('keydown', onKey, true);
  document.addEventListener('pointerdown', onDown, true);
  open = { el, anchor, onKey, onDown, restore: opts.restoreFocus || anchor };
  buttons[0].focus({ preventScroll: true });
}

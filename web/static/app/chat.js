// Chat panel: history, live messages, file attachments. Text is always set with textContent.
import { h, icon, formatSize, formatTime, toast } from './ui.js';

const GROUP_MS = 3 * 60 * 1000;

/**
 * @param {import('/sdk/switchboard.js').Room} room
 * @param {{onUnread: (n:number) => void, onClose: () => void, isOpen: () => boolean}} opts
 */
export function createChat(room, opts) {
  let unread = 0;
  let last = null; // {from, at}
  const list = h('div.chat-list', { role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions', 'aria-label': 'Chat messages', tabindex: '0' });
  const empty = h('p.chat-empty.muted', { text: 'Messages can be seen only by people in the call and are deleted when the call ends.' });
  const status = h('div.chat-status', { role: 'status', hidden: true });
  const input = h('textarea.chat-input', {
    rows: '1', maxlength: '4000', placeholder: 'Send a message', 'aria-label': 'Send a message to everyone', 'data-testid': 'chat-input',
  });
  const fileInput = h('input.visually-hidden', { type: 'file', id: 'chat-file', 'data-testid': 'chat-file', tabindex: '-1', 'aria-hidden': 'true' });
  const attachBtn = h('button.icon-btn', { type: 'button', 'aria-label': 'Attach a file', title: 'Attach a file', 'data-testid': 'chat-attach' }, icon('attach', { size: 20 }));
  const sendBtn = h('button.icon-btn.send-btn', { type: 'submit', 'aria-label': 'Send message', title: 'Send message', 'data-testid': 'chat-send', disabled: true }, icon('send', { size: 20 }));

  attachBtn.addEventListener('click', () => fileInput.click());

  const autoGrow = () => {
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, 120)}px`;
    sendBtn.disabled = !input.value.trim();
  };
  input.addEventListener('input', autoGrow);
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      send();
    }
  });

  let sending = false;
  async function send() {
    const text = input.value.trim();
    if (!text || sending) return;
    sending = true;
    sendBtn.disabled = true;
    try {
      await room.sendChat(text);
      input.value = '';
      autoGrow();
    } catch (err) {
      toast(`Message not sent: ${err.message}`, { kind: 'error' });
    } finally {
      sending = false;
      sendBtn.disabled = !input.value.trim();
      input.focus();
    }
  }

  fileInput.addEventListener('change', async () => {
    const file = fileInput.files && fileInput.files[0];
    fileInput.value = '';
    if (!file) return;
    status.hidden = false;
    status.textContent = `Uploading ${file.name} (${formatSize(file.size)})…`;
    try {
      const info = await room.uploadFile(file);
      const text = input.value.trim() || file.name;
      await room.sendChat(text, { file: info });
      input.value = '';
      autoGrow();
      status.hidden = true;
    } catch (err) {
      status.hidden = true;
      const msg = err.status === 413 || err.code === 'http_413' || err.code === 'too_large'
        ? `${file.name} is too large to share.` : `Could not share ${file.name}: ${err.message}`;
      toast(msg, { kind: 'error' });
    }
  });

  const form = h('form.chat-form', { onsubmit: (ev) => { ev.preventDefault(); send(); } }, fileInput, attachBtn, input, sendBtn);
  const el = h('section.panel.chat-panel', { 'aria-labelledby': 'chat-title' },
    h('div.panel-head', null,
      h('h2', { id: 'chat-title', text: 'In-call messages' }),
      h('button.icon-btn', { type: 'button', 'aria-label': 'Close chat', title: 'Close', onclick: () => opts.onClose() }, icon('close', { size: 20 }))),
    list, status, form);
  list.appendChild(empty);

  function renderMessage(m) {
    const me = room.localParticipant;
    const mine = me && m.from === me.id;
    const at = new Date(m.at);
    const cont = last && last.from === m.from && at - last.at < GROUP_MS;
    last = { from: m.from, at };
    const item = h(`div.chat-msg${mine ? '.mine' : ''}${cont ? '.cont' : ''}`, { 'data-testid': 'chat-message', 'data-seq': m.seq ?? '' });
    if (!cont) {
      item.appendChild(h('div.chat-meta', null,
        h('span.chat-name', { text: mine ? 'You' : m.name || 'Someone' }),
        h('time.chat-time', { datetime: m.at || '', text: formatTime(at) })));
    }
    const hideText = m.file && m.text === m.file.name;
    if (m.text && !hideText) item.appendChild(h('div.chat-text', { text: m.text }));
    if (m.file) {
      const a = h('a.file-link', { href: m.file.url, download: m.file.name || 'file', 'data-testid': 'chat-file-link', rel: 'noopener' },
        h('span.file-icon', null, icon('file', { size: 22 })),
        h('span.file-info', null, h('span.file-name', { text: m.file.name || 'file' }), h('span.file-size', { text: formatSize(m.file.size) })));
      item.appendChild(a);
    }
    return item;
  }

  function append(m) {
    empty.remove();
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    list.appendChild(renderMessage(m));
    const me = room.localParticipant;
    if (nearBottom || (me && m.from === me.id)) list.scrollTop = list.scrollHeight;
  }

  for (const m of room.chatHistory) append(m);
  const off = room.on('chat', (m) => {
    append(m);
    const me = room.localParticipant;
    if (!opts.isOpen() && !(me && m.from === me.id)) {
      unread += 1;
      opts.onUnread(unread);
    }
  });

  return {
    el,
    opened() {
      unread = 0;
      opts.onUnread(0);
      list.scrollTop = list.scrollHeight;
      input.focus();
    },
    destroy() {
      off();
    },
  };
}

// The message composer: a growing textarea (Enter sends, Shift+Enter is a new line), an emoji picker,
// attachments (button, paste, drop), a reply preview and @mention autocomplete.
import { h, icon, toast, formatSize } from './ui.js';
import { openPicker } from './emoji.js';

const MAX_LEN = 8000;

/**
 * @param {import('/sdk/messaging.js').MessagingClient} client
 * @param {import('/sdk/messaging.js').Conversation} conv
 * @param {{thread?: number, placeholder?: string, testid?: string, onSent?: () => void}} [opts]
 */
export function createComposer(client, conv, opts = {}) {
  const testid = opts.testid || 'composer';
  const input = h('textarea.composer-input', {
    rows: '1', maxlength: String(MAX_LEN), placeholder: opts.placeholder || `Message ${conv.title}`,
    'aria-label': opts.placeholder || `Message ${conv.title}`, 'data-testid': `${testid}-input`,
    'aria-autocomplete': 'list', 'aria-expanded': 'false',
  });
  const fileInput = h('input.visually-hidden', { type: 'file', multiple: true, tabindex: '-1', 'aria-hidden': 'true', 'data-testid': `${testid}-file` });
  const attachBtn = h('button.icon-btn', { type: 'button', 'aria-label': 'Attach files', title: 'Attach files', 'data-testid': `${testid}-attach` }, icon('attach', { size: 20 }));
  const emojiBtn = h('button.icon-btn', { type: 'button', 'aria-label': 'Insert an emoji', title: 'Insert an emoji', 'data-testid': `${testid}-emoji` }, icon('emoji', { size: 20 }));
  const sendBtn = h('button.icon-btn.send-btn', { type: 'submit', 'aria-label': 'Send', title: 'Send (Enter)', 'data-testid': `${testid}-send`, disabled: true }, icon('send', { size: 20 }));
  const replyBar = h('div.composer-reply', { hidden: true });
  const filesBar = h('div.composer-files', { hidden: true, 'aria-label': 'Files to send' });
  const mentionBox = h('ul.mention-popup', { role: 'listbox', hidden: true, 'data-testid': 'mention-popup', id: `mentions-${testid}-${conv.id}` });
  input.setAttribute('aria-controls', mentionBox.id);
  const form = h('form.composer', { 'data-testid': testid },
    replyBar, filesBar, mentionBox,
    h('div.composer-row', null, fileInput, attachBtn, emojiBtn, input, sendBtn));

  /** @type {File[]} */
  let files = [];
  let reply = null;
  let sending = false;

  // ------------------------------------------------------------------ text
  const update = () => {
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
    sendBtn.disabled = sending || (!input.value.trim() && !files.length);
  };

  input.addEventListener('input', () => {
    update();
    if (input.value.trim()) client.typing(conv.id);
    updateMentions();
  });

  // Some input paths (automation, a few IMEs) deliver the Enter's line break as a separate input
  // after the keydown that sent the message; drop it so the emptied composer stays empty.
  let swallowBreakUntil = 0;
  input.addEventListener('beforeinput', (ev) => {
    const isBreak = ev.inputType === 'insertLineBreak' || ev.inputType === 'insertParagraph' || (ev.inputType === 'insertText' && /^[\r\n]+$/.test(ev.data || ''));
    if (isBreak && performance.now() < swallowBreakUntil) ev.preventDefault();
  });

  input.addEventListener('keydown', (ev) => {
    if (!mentionBox.hidden && handleMentionKey(ev)) return;
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      swallowBreakUntil = performance.now() + 200;
      send();
    } else if (ev.key === 'Escape' && reply) {
      ev.preventDefault();
      ev.stopPropagation();
      setReply(null);
    }
  });

  function insertText(text) {
    const s = input.selectionStart ?? input.value.length;
    const e = input.selectionEnd ?? input.value.length;
    input.setRangeText(text, s, e, 'end');
    input.focus();
    update();
  }

  emojiBtn.addEventListener('click', () => openPicker(emojiBtn, (e) => insertText(e), { label: 'Insert an emoji', restoreFocus: input }));

  // ------------------------------------------------------------------ files
  attachBtn.addEventListener('click', () => fileInput.click());
  fileInput.addEventListener('change', () => {
    addFiles([...(fileInput.files || [])]);
    fileInput.value = '';
  });
  input.addEventListener('paste', (ev) => {
    const list = [...(ev.clipboardData?.files || [])];
    if (list.length) {
      ev.preventDefault();
      addFiles(list);
    }
  });
  form.addEventListener('dragover', (ev) => {
    if (ev.dataTransfer?.types?.includes('Files')) {
      ev.preventDefault();
      form.classList.add('drop');
    }
  });
  form.addEventListener('dragleave', () => form.classList.remove('drop'));
  form.addEventListener('drop', (ev) => {
    form.classList.remove('drop');
    const list = [...(ev.dataTransfer?.files || [])];
    if (list.length) {
      ev.preventDefault();
      addFiles(list);
    }
  });

  function addFiles(list) {
    files = [...files, ...list].slice(0, 10);
    renderFiles();
    input.focus();
  }

  function renderFiles() {
    filesBar.replaceChildren();
    filesBar.hidden = !files.length;
    files.forEach((f, i) => {
      const chip = h('div.file-chip', { 'data-testid': 'staged-file' },
        f.type.startsWith('image/') ? h('img.file-chip-thumb', { src: URL.createObjectURL(f), alt: '' }) : h('span.file-icon', null, icon('file', { size: 18 })),
        h('span.file-chip-name', { text: f.name || 'file', title: f.name }),
        h('span.file-chip-size', { text: formatSize(f.size) }),
        h('button.icon-btn.icon-btn-xs', {
          type: 'button', 'aria-label': `Remove ${f.name}`, title: 'Remove',
          onclick: () => { files.splice(i, 1); renderFiles(); input.focus(); },
        }, icon('close', { size: 16 })));
      filesBar.appendChild(chip);
    });
    update();
  }

  // ------------------------------------------------------------------ reply
  function setReply(msg) {
    reply = msg;
    replyBar.replaceChildren();
    replyBar.hidden = !msg;
    if (msg) {
      replyBar.append(
        h('span.reply-icon', null, icon('reply', { size: 16 })),
        h('span.reply-text', null, h('strong', { text: `Replying to ${client.displayName(msg.sender)}` }), h('span', { text: ` ${(msg.text || '').slice(0, 120)}` })),
        h('button.icon-btn.icon-btn-xs', { type: 'button', 'aria-label': 'Cancel reply', title: 'Cancel reply (Esc)', onclick: () => { setReply(null); input.focus(); } }, icon('close', { size: 16 })));
      input.focus();
    }
  }

  // ------------------------------------------------------------------ mentions
  let mentionItems = [];
  let mentionIndex = 0;
  let mentionStart = -1;

  function mentionCandidates(query) {
    const q = query.toLowerCase();
    const me = client.me?.id;
    const ids = conv.kind === 'channel' && conv.members.size === 0 ? [...client.users.keys()] : [...conv.members.keys()];
    const people = ids.filter((id) => id !== me).map((id) => client.user(id)).filter(Boolean)
      .filter((u) => !q || u.username.startsWith(q) || (u.displayName || '').toLowerCase().split(/\s+/).some((w) => w.startsWith(q)))
      .sort((a, b) => a.username.localeCompare(b.username))
      .slice(0, 8)
      .map((u) => ({ username: u.username, label: u.displayName || u.username, id: u.id }));
    if (conv.kind !== 'direct' && ('channel'.startsWith(q) || 'here'.startsWith(q))) {
      people.push({ username: 'channel', label: 'Notify everyone here', id: '' });
    }
    return people;
  }

  function updateMentions() {
    const caret = input.selectionStart ?? 0;
    const before = input.value.slice(0, caret);
    const m = /(^|\s)@([a-z0-9._-]{0,32})$/i.exec(before);
    if (!m) {
      closeMentions();
      return;
    }
    mentionStart = caret - m[2].length - 1;
    mentionItems = mentionCandidates(m[2]);
    if (!mentionItems.length) {
      closeMentions();
      return;
    }
    mentionIndex = 0;
    renderMentions();
  }

  function renderMentions() {
    mentionBox.replaceChildren();
    mentionItems.forEach((it, i) => {
      const li = h(`li.mention-option${i === mentionIndex ? '.active' : ''}`, {
        role: 'option', id: `${mentionBox.id}-${i}`, 'aria-selected': String(i === mentionIndex), 'data-testid': 'mention-option', 'data-username': it.username,
      }, h('span.mention-label', { text: it.label }), h('span.mention-user', { text: `@${it.username}` }));
      li.addEventListener('mousedown', (ev) => {
        ev.preventDefault();
        pickMention(i);
      });
      mentionBox.appendChild(li);
    });
    mentionBox.hidden = false;
    input.setAttribute('aria-expanded', 'true');
    input.setAttribute('aria-activedescendant', `${mentionBox.id}-${mentionIndex}`);
  }

  function closeMentions() {
    mentionBox.hidden = true;
    mentionItems = [];
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
  }

  function pickMention(i) {
    const it = mentionItems[i];
    if (!it) return;
    const caret = input.selectionStart ?? input.value.length;
    input.setRangeText(`@${it.username} `, mentionStart, caret, 'end');
    closeMentions();
    input.focus();
    update();
  }

  function handleMentionKey(ev) {
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      ev.preventDefault();
      mentionIndex = (mentionIndex + (ev.key === 'ArrowDown' ? 1 : -1) + mentionItems.length) % mentionItems.length;
      renderMentions();
      return true;
    }
    if (ev.key === 'Enter' || ev.key === 'Tab') {
      ev.preventDefault();
      swallowBreakUntil = performance.now() + 200;
      pickMention(mentionIndex);
      return true;
    }
    if (ev.key === 'Escape') {
      ev.preventDefault();
      ev.stopPropagation();
      closeMentions();
      return true;
    }
    return false;
  }
  input.addEventListener('blur', () => setTimeout(closeMentions, 150));

  // ------------------------------------------------------------------ sending
  async function send() {
    const text = input.value.trim();
    if ((!text && !files.length) || sending) return;
    if (text.length > MAX_LEN) {
      toast(`A message is at most ${MAX_LEN} characters.`, { kind: 'error' });
      return;
    }
    const toSend = files;
    const replyTo = reply;
    sending = true;
    update();
    let ids = [];
    try {
      if (toSend.length) {
        form.classList.add('uploading');
        for (const f of toSend) ids.push((await client.uploadFile(conv.id, f)).id);
      }
    } catch (err) {
      toast(err.status === 413 || err.code === 'too_large' ? 'That file is too large to share.' : `Could not upload: ${err.message}`, { kind: 'error' });
      sending = false;
      form.classList.remove('uploading');
      update();
      return;
    }
    form.classList.remove('uploading');
    // Clear at once: the message shows as "sending" in the list until the server has it.
    input.value = '';
    files = [];
    renderFiles();
    setReply(null);
    sending = false;
    update();
    client.stoppedTyping(conv.id);
    opts.onSent?.();
    try {
      await client.send(conv.id, text, { thread: opts.thread, reply: replyTo?.seq, files: ids });
    } catch (err) {
      toast(`Message not sent: ${err.message}`, { kind: 'error' });
    }
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    send();
  });

  return {
    el: form,
    input,
    focus: () => input.focus({ preventScroll: true }),
    setReply,
    addFiles,
  };
}

// The signed-in workspace: the conversation list, the open conversation, and a side panel for
// threads, search results and conversation details. Routes: #/c/{conversation id}.
import { h, icon, logo, toast, initials, avatarColor } from './ui.js';
import { shortWhen, preview, STATUS_LABEL, fullWhen } from './format.js';
import { createTimeline, createThreadList } from './timeline.js';
import { createComposer } from './composer.js';
import { SETTINGS_PATH } from './contact-ui.js';
import {
  newDirectDialog, newGroupDialog, channelsDialog, profileDialog, notifyDialog, joinMeetingDialog, newMeeting, openDialog, personRow,
} from './dialogs.js';

const PREVIEW_LOADS = 25;

/**
 * @param {HTMLElement} root
 * @param {{client: import('/sdk/messaging.js').MessagingClient, calls: ReturnType<import('./calls.js').installCalls>,
 *   notifier: import('./notify.js').Notifier, navigate: (path: string) => void, signOut: () => void}} app
 */
export function renderWorkspace(root, app) {
  const { client } = app;
  const offs = [];
  let current = null; // {conv, timeline, composer, el, ...}
  let panel = null; // {kind, el, destroy}
  let listQueued = false;

  // ------------------------------------------------------------------ sidebar
  const meAvatar = h('span.avatar-wrap');
  const meName = h('span.me-name');
  const meStatus = h('span.me-status');
  const meBtn = h('button.me-card', { type: 'button', 'data-testid': 'profile-button', 'aria-label': 'Profile and status', title: 'Profile and status' },
    meAvatar, h('span.me-text', null, meName, meStatus));
  meBtn.addEventListener('click', () => profileDialog(client, { signOut: app.signOut }));

  const searchInput = h('input.input.search-input', {
    type: 'search', placeholder: 'Search messages', 'aria-label': 'Search messages in all conversations', 'data-testid': 'search-input', autocomplete: 'off',
  });
  const searchForm = h('form.ws-search', { role: 'search' }, h('span.input-icon', null, icon('search', { size: 18 })), searchInput);
  searchForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = searchInput.value.trim();
    if (q) openSearch(q);
  });

  const sideBtn = (name, label, testid, fn) => h('button.icon-btn.icon-btn-sm', { type: 'button', 'aria-label': label, title: label, 'data-testid': testid, onclick: fn }, icon(name, { size: 20 }));
  const list = h('ul.conv-list', { 'data-testid': 'conversation-list', 'aria-label': 'Conversations' });
  const connection = h('div.conn-status', { role: 'status', 'data-testid': 'connection-status' });
  const notifyBtn = h('button.btn.btn-text.btn-sm.notify-btn', { type: 'button', 'data-testid': 'notify-settings' }, icon('bell', { size: 18 }), h('span', { text: 'Notifications' }));
  notifyBtn.addEventListener('click', () => notifyDialog(app.notifier));
  // People (accounts and invitations): admins only; the module loads when first opened.
  const isAdmin = () => client.me?.role === 'admin';
  const openPeople = async () => {
    try {
      const { peopleAdminDialog } = await import('./admin.js');
      peopleAdminDialog(client, { onRoleChanged: syncAdmin });
    } catch (err) {
      toast(`Could not open People: ${err.message}`, { kind: 'error' });
    }
  };
  const peopleBtn = h('button.btn.btn-text.btn-sm.notify-btn', { type: 'button', 'data-testid': 'admin-people', title: 'Accounts and invitations', hidden: !isAdmin() },
    icon('admin', { size: 18 }), h('span', { text: 'People' }));
  peopleBtn.addEventListener('click', openPeople);
  // The contact centre: the agent console (agents and admins), the supervisor dashboard and the
  // contact settings (admins).
  const isAgent = () => client.me?.role === 'agent' || isAdmin();
  const pageLink = (path, label, iconName, testid) => {
    const a = h('a.ws-app-link', { href: path, 'data-testid': testid }, icon(iconName, { size: 18 }), h('span', { text: label }));
    a.addEventListener('click', (ev) => {
      if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
      ev.preventDefault();
      app.navigate(path);
    });
    return a;
  };
  const consoleLink = pageLink('/console', 'Agent console', 'headset', 'open-console');
  const supervisorLink = pageLink('/supervisor', 'Supervisor', 'chart', 'open-supervisor');
  const settingsLink = pageLink(SETTINGS_PATH, 'Contact settings', 'settings', 'open-contact-settings');
  const apps = h('div.ws-apps', { role: 'group', 'aria-label': 'Customer contact' }, consoleLink, supervisorLink, settingsLink);
  function syncContact() {
    consoleLink.hidden = !isAgent();
    supervisorLink.hidden = !isAdmin();
    settingsLink.hidden = !isAdmin();
    apps.hidden = consoleLink.hidden && supervisorLink.hidden;
  }
  syncContact();
  // Telephony (when the server has SIP on): the dialer, and for admins the telephony page.
  const phoneLink = pageLink('/phone', 'Phone', 'phone', 'open-phone');
  const telephonyLink = pageLink('/telephony', 'Telephony', 'admin', 'open-telephony');
  const phoneApps = h('div.ws-apps', { role: 'group', 'aria-label': 'Telephony', hidden: true }, phoneLink, telephonyLink);
  import('./phone.js').then((m) => m.phoneFeature()).then((info) => {
    phoneApps.hidden = !info.enabled;
    telephonyLink.hidden = !isAdmin();
  }).catch(() => {});
  /** After a change of role (ours, or by another admin: the socket reconnects with it). */
  function syncAdmin() {
    syncContact();
    telephonyLink.hidden = !isAdmin();
    if (peopleBtn.hidden === !isAdmin()) return;
    peopleBtn.hidden = !isAdmin();
    showEmptyIfOpen();
  }

  const side = h('nav.ws-side', { 'aria-label': 'Workspace' },
    h('div.ws-brand', null,
      h('a.brand', { href: '/', 'aria-label': 'Switchboard home' }, logo(28), h('span.brand-name', { text: 'Switchboard' })),
      h('span.spacer'),
      sideBtn('videoCall', 'New meeting', 'new-meeting', () => newMeeting(app.navigate)),
      sideBtn('keyboard', 'Join a meeting with a code', 'join-meeting', () => joinMeetingDialog(app.navigate))),
    meBtn,
    searchForm,
    h('div.ws-section-head', null,
      h('h2', { text: 'Conversations' }),
      h('span.spacer'),
      sideBtn('edit', 'New message', 'new-direct', () => newDirectDialog(client, openConv)),
      sideBtn('people', 'New group', 'new-group', () => newGroupDialog(client, openConv)),
      sideBtn('tag', 'Channels', 'browse-channels', () => channelsDialog(client, openConv))),
    list,
    phoneApps,
    apps,
    h('div.ws-foot', null, notifyBtn, peopleBtn, connection));

  const main = h('main.ws-main', { id: 'main', tabindex: '-1' });
  const aside = h('aside.ws-panel', { hidden: true });
  const el = h('div.ws', { 'data-testid': 'workspace' }, side, main, aside);
  root.appendChild(el);

  // ------------------------------------------------------------------ presence helpers
  const statusOf = (userId) => (client.presenceEnabled ? client.presence.get(userId)?.status || 'offline' : '');
  function dot(userId, extra = '') {
    const st = statusOf(userId);
    if (!st) return null;
    return h(`span.presence-dot.st-${st}${extra}`, { 'data-testid': 'presence-dot', 'data-status': st, 'data-user': userId, title: STATUS_LABEL[st] || st, role: 'img', 'aria-label': STATUS_LABEL[st] || st });
  }
  function convAvatar(conv, size = 'sm') {
    if (conv.kind === 'direct') {
      const peer = conv.peer;
      return h('span.avatar-wrap', null,
        h(`span.avatar.avatar-${size}`, { style: { background: avatarColor(peer) }, text: initials(client.displayName(peer)), 'aria-hidden': 'true' }),
        dot(peer));
    }
    return h('span.avatar-wrap', null, h(`span.avatar.avatar-${size}.avatar-conv`, { 'aria-hidden': 'true' }, icon(conv.kind === 'channel' ? 'tag' : 'people', { size: 18 })));
  }

  function renderMe() {
    const me = client.me;
    if (!me) return;
    const p = client.presence.get(me.id) || { status: 'available' };
    meAvatar.replaceChildren(
      h('span.avatar.avatar-sm', { style: { background: avatarColor(me.id) }, text: initials(me.displayName || me.username), 'aria-hidden': 'true' }),
      dot(me.id));
    meName.textContent = me.displayName || me.username;
    meStatus.textContent = p.text || STATUS_LABEL[p.status] || '';
  }

  // ------------------------------------------------------------------ conversation list
  function renderList() {
    listQueued = false;
    const focused = document.activeElement?.closest?.('[data-testid="conv-item"]')?.dataset.conversation;
    const convs = client.inbox().filter((c) => !c.archived || c === current?.conv);
    list.replaceChildren();
    if (!convs.length) {
      list.appendChild(h('li.conv-empty.muted', { text: 'No conversations yet. Start one with the buttons above.' }));
    }
    let unreadTotal = 0;
    for (const c of convs) {
      const typing = c.typingUsers();
      const last = c.lastMessage;
      const active = current && current.conv === c;
      if (!c.muted) unreadTotal += c.unread;
      const previewText = typing.length ? `${client.displayName(typing[0])} is typing…`
        : last ? preview(last, client.me?.id, (id) => client.displayName(id)) : (c.topic || (c.kind === 'channel' ? 'Channel' : c.kind === 'group' ? 'Group' : ''));
      const a = h(`a.conv-item${c.unread ? '.unread' : ''}${c.muted ? '.muted-conv' : ''}`, {
        href: `#/c/${c.id}`, 'data-testid': 'conv-item', 'data-conversation': c.id, 'data-kind': c.kind,
        'aria-current': active ? 'page' : null,
        'aria-label': `${c.title}${c.unread ? `, ${c.unread} unread` : ''}${c.muted ? ', muted' : ''}`,
      },
      convAvatar(c),
      h('span.conv-text', null,
        h('span.conv-top', null,
          h('span.conv-title', { text: c.title }),
          c.muted ? h('span.conv-muted', { title: 'Muted' }, icon('bellOff', { size: 14 })) : null,
          h('time.conv-time', { datetime: c.lastActivity, text: last ? shortWhen(last.at) : '' })),
        h('span.conv-bottom', null,
          h(`span.conv-preview${typing.length ? '.typing' : ''}`, { text: previewText }),
          c.unread ? h('span.conv-unread', { 'data-testid': 'conv-unread', text: c.unread > 99 ? '99+' : String(c.unread), 'aria-hidden': 'true' }) : null)));
      list.appendChild(h('li', null, a));
    }
    document.title = unreadTotal ? `(${unreadTotal}) Switchboard` : 'Switchboard';
    if (focused) list.querySelector(`[data-conversation="${CSS.escape(focused)}"]`)?.focus({ preventScroll: true });
  }
  const queueList = () => {
    if (listQueued) return;
    listQueued = true;
    requestAnimationFrame(renderList);
  };

  // Arrow keys move between conversations in the list.
  list.addEventListener('keydown', (ev) => {
    if (ev.key !== 'ArrowDown' && ev.key !== 'ArrowUp') return;
    const items = [...list.querySelectorAll('[data-testid="conv-item"]')];
    const i = items.indexOf(document.activeElement);
    if (i < 0) return;
    ev.preventDefault();
    items[Math.min(items.length - 1, Math.max(0, i + (ev.key === 'ArrowDown' ? 1 : -1)))].focus();
  });

  // ------------------------------------------------------------------ the open conversation
  function showEmpty() {
    main.replaceChildren(h('div.ws-empty', { 'data-testid': 'workspace-empty' },
      h('div.ws-empty-art', { 'aria-hidden': 'true' }, icon('chat', { size: 48 })),
      h('h1', { text: `Welcome${client.me ? `, ${client.me.displayName || client.me.username}` : ''}` }),
      h('p.muted', { text: 'Pick a conversation, or start one.' }),
      h('div.btn-row', null,
        h('button.btn.btn-primary', { type: 'button', onclick: () => newDirectDialog(client, openConv) }, icon('edit', { size: 18 }), h('span', { text: 'New message' })),
        h('button.btn.btn-outline', { type: 'button', onclick: () => newGroupDialog(client, openConv) }, icon('people', { size: 18 }), h('span', { text: 'New group' })),
        h('button.btn.btn-outline', { type: 'button', onclick: () => channelsDialog(client, openConv) }, icon('tag', { size: 18 }), h('span', { text: 'Channels' })),
        h('button.btn.btn-outline', { type: 'button', onclick: () => newMeeting(app.navigate) }, icon('videoCall', { size: 18 }), h('span', { text: 'New meeting' })),
        isAdmin() ? h('button.btn.btn-outline', { type: 'button', 'data-testid': 'empty-invite', onclick: openPeople }, icon('personAdd', { size: 18 }), h('span', { text: 'Invite people' })) : null)));
    el.classList.remove('conv-open');
  }
  /** Redraws the welcome screen when it is shown (what it offers depends on the role). */
  function showEmptyIfOpen() {
    if (!current && main.querySelector('[data-testid="workspace-empty"]')) showEmpty();
  }

  /** Opens a conversation (through the URL, so Back works). */
  function openConv(conv) {
    if (!conv) return;
    if (location.hash !== `#/c/${conv.id}`) location.hash = `#/c/${conv.id}`;
    else show(conv.id);
  }

  function closeConv() {
    if (!current) return;
    current.destroy();
    current = null;
  }

  function show(id, { jumpTo } = {}) {
    const conv = client.conversations.get(id);
    if (!conv) {
      closeConv();
      showEmpty();
      if (id) toast('That conversation does not exist, or you are not in it.');
      queueList();
      return;
    }
    if (current && current.conv === conv) {
      if (jumpTo) current.timeline.jumpTo(jumpTo);
      return;
    }
    closeConv();
    if (panel && panel.kind !== 'search') closePanel();
    current = conversationView(conv);
    main.replaceChildren(current.el);
    el.classList.add('conv-open');
    queueList();
    current.timeline.open().then(() => {
      if (jumpTo && current?.conv === conv) current.timeline.jumpTo(jumpTo);
      markSeen();
    });
    if (!jumpTo) current.composer.focus();
  }

  function markSeen() {
    if (!current || document.visibilityState !== 'visible') return;
    if (!current.timeline.nearBottom()) return;
    client.markRead(current.conv.id).catch(() => {});
  }

  function conversationView(conv) {
    const subtitle = h('p.conv-sub', { 'data-testid': 'conversation-subtitle' });
    const titleEl = h('h1.conv-name', { text: conv.title });
    const avatarBox = h('span.conv-head-avatar');
    const muteBtn = h('button.icon-btn', { type: 'button', 'data-testid': 'mute-toggle' });
    const callBtn = (video) => h('button.icon-btn', {
      type: 'button', 'data-testid': video ? 'call-video' : 'call-audio',
      'aria-label': video ? 'Start a video call' : 'Start an audio call', title: video ? 'Video call' : 'Audio call',
      onclick: () => app.calls.start(conv.kind === 'direct' ? { user: conv.peer } : { conversation: conv.id }, video),
    }, icon(video ? 'cam' : 'phone', { size: 20 }));
    const back = h('button.icon-btn.back-btn', { type: 'button', 'aria-label': 'Back to conversations', onclick: () => { location.hash = ''; } }, icon('back', { size: 20 }));
    const detailsBtn = h('button.icon-btn', { type: 'button', 'data-testid': 'conv-details', 'aria-label': 'Conversation details', title: 'Details and members', onclick: () => openDetails(conv) }, icon('info', { size: 20 }));
    const header = h('header.conv-head', null, back, avatarBox,
      h('div.conv-head-text', null, titleEl, subtitle),
      h('div.conv-actions', null, callBtn(false), callBtn(true), muteBtn, detailsBtn));
    muteBtn.addEventListener('click', () => client.mute(conv.id, !conv.muted).catch((e) => toast(`Could not change: ${e.message}`, { kind: 'error' })));

    const composer = createComposer(client, conv, { onSent: () => timeline.showLatest() });
    const timeline = createTimeline(client, conv, {
      onReply: (msg) => composer.setReply(msg),
      onThread: (msg) => openThread(conv, msg.seq),
      onSeen: () => markSeen(),
      focusComposer: () => composer.focus(),
    });
    const typing = h('div.typing-indicator', { 'data-testid': 'typing-indicator', 'aria-live': 'polite' });
    const view = h('section.conv-view', { 'data-testid': 'conversation', 'data-conversation': conv.id, 'aria-label': conv.title },
      header, timeline.el, typing, composer.el);

    function renderHeader() {
      titleEl.textContent = conv.title;
      avatarBox.replaceChildren(convAvatar(conv, 'md'));
      if (conv.kind === 'direct') {
        const p = client.presence.get(conv.peer);
        const st = statusOf(conv.peer);
        subtitle.textContent = [st ? STATUS_LABEL[st] : '', p?.text].filter(Boolean).join(' · ');
      } else {
        const n = conv.members.size;
        subtitle.textContent = [`${n} member${n === 1 ? '' : 's'}`, conv.topic].filter(Boolean).join(' · ');
      }
      muteBtn.replaceChildren(icon(conv.muted ? 'bellOff' : 'bell', { size: 20 }));
      muteBtn.setAttribute('aria-pressed', String(conv.muted));
      muteBtn.setAttribute('aria-label', conv.muted ? 'Unmute notifications' : 'Mute notifications');
      muteBtn.title = conv.muted ? 'Muted: click to unmute' : 'Mute notifications';
    }
    function renderTyping() {
      const who = conv.typingUsers().map((u) => client.displayName(u));
      typing.textContent = !who.length ? '' : who.length === 1 ? `${who[0]} is typing…`
        : who.length === 2 ? `${who[0]} and ${who[1]} are typing…` : 'Several people are typing…';
      typing.classList.toggle('on', who.length > 0);
    }
    renderHeader();
    const viewOffs = [
      client.on('conversation', (c) => { if (c === conv) renderHeader(); }),
      client.on('presence', () => renderHeader()),
      client.on('users', () => renderHeader()),
      client.on('typing', ({ conversation }) => { if (conversation === conv.id) renderTyping(); }),
      client.on('message', (msg, c) => { if (c === conv) renderTyping(); }),
    ];
    return {
      conv, el: view, timeline, composer,
      destroy() {
        for (const off of viewOffs) off();
        timeline.destroy();
      },
    };
  }

  // ------------------------------------------------------------------ side panel
  function openPanel(kind, title, body, { testid, onClose } = {}) {
    closePanel();
    const closeBtn = h('button.icon-btn', { type: 'button', 'aria-label': `Close ${title.toLowerCase()}`, title: 'Close (Esc)', 'data-testid': 'panel-close', onclick: () => closePanel() }, icon('close', { size: 20 }));
    const elp = h('section.ws-panel-inner', { 'aria-label': title, 'data-testid': testid || `${kind}-panel` },
      h('div.panel-head', null, h('h2', { text: title }), closeBtn), body);
    aside.replaceChildren(elp);
    aside.hidden = false;
    el.classList.add('panel-open');
    panel = { kind, el: elp, destroy: onClose };
    return panel;
  }

  function closePanel() {
    if (!panel) return;
    panel.destroy?.();
    panel = null;
    aside.replaceChildren();
    aside.hidden = true;
    el.classList.remove('panel-open');
  }

  async function openThread(conv, rootSeq) {
    const tl = createThreadList(client, conv, rootSeq);
    const composer = createComposer(client, conv, { thread: rootSeq, placeholder: 'Reply in the thread', testid: 'thread' });
    const body = h('div.thread-body', null, tl.el, composer.el);
    openPanel('thread', 'Thread', body, { testid: 'thread-panel', onClose: () => tl.destroy() });
    try {
      // Page by page: the first shows at once, the rest follow.
      let page = await client.thread(conv.id, rootSeq);
      tl.render();
      while (page.more && page.next) {
        page = await client.thread(conv.id, rootSeq, { after: page.next });
        tl.render();
      }
    } catch (err) {
      toast(`Could not load the thread: ${err.message}`, { kind: 'error' });
    }
    composer.focus();
  }

  async function openSearch(query) {
    const results = h('ul.search-results', { 'data-testid': 'search-results', 'aria-live': 'polite' }, h('li.muted.pick-empty', { text: 'Searching…' }));
    openPanel('search', `Search: ${query}`, results, { testid: 'search-panel' });
    try {
      const found = await client.search(query);
      results.replaceChildren();
      if (!found.length) results.appendChild(h('li.muted.pick-empty', { 'data-testid': 'search-empty', text: 'No messages found.' }));
      const terms = query.toLowerCase().split(/\s+/).filter(Boolean);
      for (const m of found) {
        const conv = client.conversations.get(m.conversation);
        const item = h('button.search-result', { type: 'button', 'data-testid': 'search-result', 'data-conversation': m.conversation, 'data-seq': String(m.seq) },
          h('span.search-meta', null,
            h('span.search-conv', { text: conv ? conv.title : 'Conversation' }),
            h('span', { text: ` · ${client.displayName(m.sender)}` }),
            h('time', { datetime: m.at, title: fullWhen(m.at), text: ` · ${shortWhen(m.at)}` })),
          h('span.search-text', null, highlight(m.text || '', terms)));
        item.addEventListener('click', () => {
          if (!conv) return;
          if (m.thread) {
            openConv(conv);
            openThread(conv, m.thread);
            return;
          }
          if (location.hash !== `#/c/${conv.id}`) {
            pendingJump = m.seq;
            location.hash = `#/c/${conv.id}`;
          } else {
            show(conv.id, { jumpTo: m.seq });
          }
        });
        results.appendChild(h('li', null, item));
      }
    } catch (err) {
      results.replaceChildren(h('li.form-error', { text: `Search failed: ${err.message}` }));
    }
  }

  /** The text with the searched words marked (text nodes and <mark> elements only). */
  function highlight(text, terms) {
    const out = [];
    const lower = text.toLowerCase();
    let i = 0;
    while (i < text.length) {
      let best = -1;
      let len = 0;
      for (const t of terms) {
        const j = lower.indexOf(t, i);
        if (j >= 0 && (best < 0 || j < best)) { best = j; len = t.length; }
      }
      if (best < 0) break;
      if (best > i) out.push(document.createTextNode(text.slice(i, best)));
      out.push(h('mark', { text: text.slice(best, best + len) }));
      i = best + len;
    }
    if (i < text.length) out.push(document.createTextNode(text.slice(i)));
    return out;
  }

  function openDetails(conv) {
    const body = h('div.panel-body.details');
    const render = () => {
      body.replaceChildren();
      const me = client.me;
      const mine = conv.members.get(me.id);
      const owner = mine?.role === 'owner' || me.role === 'admin';
      if (conv.kind !== 'direct') {
        const name = h('input.input', { type: 'text', value: conv.name, maxlength: '80', 'aria-label': 'Name', disabled: !owner });
        const topic = h('input.input', { type: 'text', value: conv.topic, maxlength: '250', 'aria-label': 'Topic', placeholder: 'No topic', disabled: !owner && conv.kind !== 'channel' });
        const save = h('button.btn.btn-primary.btn-sm', { type: 'submit', text: 'Save' });
        const form = h('form.details-form', null,
          h('label.field-label', { text: 'Name' }), name, h('label.field-label', { text: 'Topic' }), topic,
          (owner || conv.kind === 'channel') ? save : null);
        form.addEventListener('submit', async (ev) => {
          ev.preventDefault();
          const changes = {};
          if (owner && name.value.trim() && name.value.trim() !== conv.name) changes.name = name.value.trim();
          if (topic.value.trim() !== conv.topic) changes.topic = topic.value.trim();
          if (!Object.keys(changes).length) return;
          try {
            await client.update(conv.id, changes);
            toast('Saved');
          } catch (err) {
            toast(`Could not save: ${err.message}`, { kind: 'error' });
          }
        });
        body.appendChild(form);
      }
      body.appendChild(h('h3.section-title', { text: `Members (${conv.members.size})` }));
      const ul = h('ul.member-list', { 'data-testid': 'member-list' });
      for (const m of conv.members.values()) {
        const u = client.user(m.user) || { id: m.user, username: m.user, displayName: client.displayName(m.user) };
        ul.appendChild(h('li', { 'data-testid': 'member-item', 'data-user': m.user },
          personRow(client, u, { control: m.role === 'owner' ? h('span.badge', { text: 'Owner' }) : null })));
      }
      body.appendChild(ul);
      if (conv.kind !== 'direct') {
        const add = h('button.btn.btn-outline.btn-sm', { type: 'button', 'data-testid': 'invite-people' }, icon('personAdd', { size: 18 }), h('span', { text: 'Add people' }));
        add.addEventListener('click', () => invitePeople(conv));
        const leave = h('button.btn.btn-text.btn-sm.danger-text', { type: 'button', 'data-testid': 'leave-conversation', text: conv.kind === 'channel' ? 'Leave channel' : 'Leave group' });
        leave.addEventListener('click', async () => {
          if (!window.confirm(`Leave ${conv.title}?`)) return;
          try {
            await client.leave(conv.id);
            closePanel();
            location.hash = '';
          } catch (err) {
            toast(`Could not leave: ${err.message}`, { kind: 'error' });
          }
        });
        body.appendChild(h('div.btn-row.details-actions', null, add, leave));
      }
    };
    render();
    const off = client.on('conversation', (c) => { if (c === conv) render(); });
    const off2 = client.on('presence', render);
    openPanel('details', conv.kind === 'direct' ? 'Details' : conv.kind === 'channel' ? 'Channel details' : 'Group details', body, {
      testid: 'details-panel', onClose: () => { off(); off2(); },
    });
  }

  function invitePeople(conv) {
    const chosen = new Set();
    const ul = h('ul.pick-list');
    for (const u of [...client.users.values()].filter((x) => !conv.members.has(x.id) && !x.disabled)) {
      const cb = h('input', { type: 'checkbox', 'aria-label': `Add ${u.displayName || u.username}` });
      cb.addEventListener('change', () => (cb.checked ? chosen.add(u.id) : chosen.delete(u.id)));
      ul.appendChild(h('li', null, h('label.pick-item', null, personRow(client, u, { control: cb }))));
    }
    if (!ul.children.length) ul.appendChild(h('li.muted.pick-empty', { text: 'Everyone is here already.' }));
    const go = h('button.btn.btn-primary', { type: 'button', text: 'Add' });
    const dlg = openDialog({ title: `Add people to ${conv.title}`, testid: 'invite-dialog', body: [ul], foot: [go] });
    go.addEventListener('click', async () => {
      if (!chosen.size) return;
      try {
        await client.invite(conv.id, [...chosen]);
        dlg.close();
      } catch (err) {
        toast(`Could not add: ${err.message}`, { kind: 'error' });
      }
    });
  }

  // ------------------------------------------------------------------ client events
  offs.push(client.on('conversation', (c, { removed }) => {
    if (removed && current && current.conv === c) {
      closeConv();
      showEmpty();
      toast(`You are no longer in ${c.title}.`);
    }
    queueList();
  }));
  offs.push(client.on('message', (msg, conv) => {
    queueList();
    // Mentions in other conversations get a toast while we look at the app.
    const me = client.me?.id;
    if (msg.sender !== me && (!current || current.conv !== conv) && (msg.data?.mentions?.includes(me) || msg.data?.everyone)) {
      toast(`${client.displayName(msg.sender)} mentioned you in ${conv.title}`);
    }
  }));
  offs.push(client.on('typing', queueList));
  offs.push(client.on('presence', () => { renderMe(); queueList(); }));
  offs.push(client.on('users', () => { renderMe(); queueList(); }));
  offs.push(client.on('connection', (s) => renderConnection(s)));
  offs.push(client.on('ready', () => { renderMe(); queueList(); syncAdmin(); }));

  function renderConnection(s) {
    connection.replaceChildren();
    connection.dataset.state = s;
    if (s === 'reconnecting') connection.append(h('span.spinner.spinner-sm', { 'aria-hidden': 'true' }), h('span', { text: 'Reconnecting…' }));
    else if (s === 'unauthorized') connection.append(h('span', { text: 'Signed out. ' }), h('a', { href: '/login', text: 'Sign in again' }));
    else if (s === 'closed') connection.append(h('span', { text: 'Disconnected' }));
    el.classList.toggle('offline', s === 'reconnecting');
  }

  const onVisible = () => { if (document.visibilityState === 'visible') markSeen(); };
  document.addEventListener('visibilitychange', onVisible);
  const onKey = (ev) => {
    if (ev.defaultPrevented) return;
    if (ev.key === 'Escape' && panel && !document.querySelector('dialog[open]') && !document.querySelector('.emoji-picker')) {
      ev.preventDefault();
      closePanel();
      current?.composer.focus();
    }
    if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === 'k') {
      ev.preventDefault();
      searchInput.focus();
      searchInput.select();
    }
  };
  document.addEventListener('keydown', onKey);

  // Previews for the conversation list: the newest message of the most recent conversations.
  (async () => {
    for (const c of client.inbox().slice(0, PREVIEW_LOADS)) {
      if (!el.isConnected) return;
      if (c.messages.length || c.lastSeq === 0) continue;
      try {
        await client.history(c.id, { limit: 1 });
      } catch { /* the list shows no preview */ }
      queueList();
    }
  })();

  let pendingJump = 0;
  function route() {
    // Other fragments (the skip link's #main) are not routes.
    if (location.hash && !location.hash.startsWith('#/')) return;
    const m = /^#\/c\/([A-Za-z0-9_-]{1,64})/.exec(location.hash);
    if (m) {
      const jump = pendingJump;
      pendingJump = 0;
      show(m[1], { jumpTo: jump || undefined });
    } else {
      closeConv();
      showEmpty();
      queueList();
    }
  }

  renderMe();
  renderList();
  renderConnection(client.state);
  route();

  return {
    onHash: route,
    /** Whether the person is looking at this conversation (for notifications). */
    isLooking: (id) => !!current && current.conv.id === id,
    open: (id) => openConv(client.conversations.get(id)),
    destroy() {
      for (const off of offs) off();
      closeConv();
      closePanel();
      document.removeEventListener('visibilitychange', onVisible);
      document.removeEventListener('keydown', onKey);
    },
  };
}


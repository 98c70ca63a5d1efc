// Contact settings (/supervisor#settings, admins): the queues that route visitors to agents, the
// website widgets with their embed code, and the agents' routing profiles (docs/api.md, "Customer
// contact", "Configuration"; the guide in docs/contact.md, "Setting up"). Each item is edited in a
// dialog and saved whole with PUT; the server checks it and its 400 message is shown by the form.
// Durations are whole seconds in the API; here people write "45 s", "2 min" or "1:30".
import { h, icon, toast, copyText } from './ui.js';
import { api } from './session.js';
import { openDialog } from './dialogs.js';
import { confirmDialog } from './admin.js';
import { pageFrame, notAllowed, MEDIA_LABEL, SETTINGS_PATH } from './contact-ui.js';

/** Routing strategies, as the API names them, with what they do in words. */
export const STRATEGIES = [
  { value: 'longest_idle', label: 'Longest idle', hint: 'The free agent who has waited longest since their last contact.' },
  { value: 'fewest_contacts', label: 'Fewest contacts', hint: 'The free agent who answered the fewest contacts today.' },
  { value: 'least_talk_time', label: 'Least talk time', hint: 'The free agent who spent the least time with visitors today.' },
  { value: 'round_robin', label: 'Round robin', hint: 'Each member in turn, in the order of the members list.' },
  { value: 'ring_all', label: 'Ring all', hint: 'Every free agent at once; the first to accept takes the contact.' },
  { value: 'weighted_random', label: 'Weighted random', hint: 'A free agent at random, in proportion to their weight.' },
];
const STRATEGY_LABEL = Object.fromEntries(STRATEGIES.map((s) => [s.value, s.label]));
const MEDIA = ['chat', 'voice', 'video'];
const DAYS = [['mon', 'Monday'], ['tue', 'Tuesday'], ['wed', 'Wednesday'], ['thu', 'Thursday'], ['fri', 'Friday'], ['sat', 'Saturday'], ['sun', 'Sunday']];
const ID_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;
/** The widget's words that a widget's texts may replace (widget.js), for the hint. */
const TEXT_KEYS = ['chat', 'hello', 'voice', 'video', 'phone', 'message', 'closed', 'opensAt', 'nobody', 'name', 'email', 'start',
  'consentAccept', 'send', 'typeHere', 'position', 'estimate', 'waiting', 'joined', 'ended', 'again', 'close', 'leave',
  'callback', 'blocked'];
const DEFAULT_SLOTS = 3;

// ------------------------------------------------------------------ durations, hours, lists

const UNIT = {
  h: 3600, hr: 3600, hrs: 3600, hour: 3600, hours: 3600,
  m: 60, min: 60, mins: 60, minute: 60, minutes: 60,
  s: 1, sec: 1, secs: 1, second: 1, seconds: 1,
};

/**
 * Reads a duration as people write it: "90" or "90 s" (seconds), "2 min", "1 min 30 s", "1:30"
 * (minutes and seconds), "1 h", "1:00:00". Empty is 0. NaN when it cannot be read.
 */
export function parseDuration(text) {
  const s = String(text ?? '').trim().toLowerCase().replace(/,/g, '.');
  if (!s) return 0;
  const clock = /^(\d+):(\d{1,2})(?::(\d{1,2}))?$/.exec(s);
  if (clock) {
    const [a, b, c] = [Number(clock[1]), Number(clock[2]), clock[3] === undefined ? null : Number(clock[3])];
    return c === null ? a * 60 + b : a * 3600 + b * 60 + c;
  }
  const re = /(\d+(?:\.\d+)?)\s*([a-z]*)\s*/y;
  let total = 0;
  while (re.lastIndex < s.length) {
    const m = re.exec(s);
    if (!m) return NaN;
    const unit = m[2] ? UNIT[m[2]] : 1;
    if (!unit) return NaN;
    total += Number(m[1]) * unit;
  }
  return Math.round(total);
}

/** "2 min", "1 min 30 s", "1 h 5 min", "45 s"; "" for 0. */
export function formatDuration(seconds) {
  const s = Math.max(0, Math.round(Number(seconds) || 0));
  if (!s) return '';
  const parts = [];
  if (s >= 3600) parts.push(`${Math.floor(s / 3600)} h`);
  if (s % 3600 >= 60) parts.push(`${Math.floor((s % 3600) / 60)} min`);
  if (s % 60) parts.push(`${s % 60} s`);
  return parts.join(' ');
}

/** "9:00" or "9" -> "09:00"; null when it is not a time of day. */
function clockOf(t) {
  const m = /^(\d{1,2})(?:[:.h](\d{2}))?$/.exec(t.trim());
  if (!m) return null;
  return `${m[1].padStart(2, '0')}:${m[2] || '00'}`;
}

/** "09:00-12:30, 13:30-18:00" -> [["09:00", "12:30"], ["13:30", "18:00"]]; throws a message. */
export function parseSpans(text, day) {
  const out = [];
  for (const part of String(text || '').split(/[,;]/).map((x) => x.trim()).filter(Boolean)) {
    const m = /^(.+?)\s*(?:-|–|—|to)\s*(.+)$/.exec(part);
    const from = m && clockOf(m[1]);
    const to = m && clockOf(m[2]);
    if (!from || !to) throw new Error(`${day}: write the hours as 09:00-17:00 (several separated by commas), not "${part}".`);
    out.push([from, to]);
  }
  return out;
}

const spansText = (spans) => (spans || []).map(([a, b]) => `${a}-${b}`).join(', ');
/** Lines or commas -> a list without empty items. */
const listOf = (text, sep = /[\n,]/) => String(text || '').split(sep).map((x) => x.trim()).filter(Boolean);

/** "english:2, french" -> {english: 2, french: 1}; throws a message. */
function parseSkills(text) {
  const out = {};
  for (const item of listOf(text)) {
    const m = /^([^:=\s][^:=]*?)\s*(?:[:=]\s*(\d+))?$/.exec(item);
    if (!m) throw new Error(`Skills: write name:level, e.g. english:2, not "${item}".`);
    out[m[1]] = m[2] ? Number(m[2]) : 1;
  }
  return out;
}
const skillsText = (skills) => Object.entries(skills || {}).map(([k, v]) => (v === 1 ? k : `${k}:${v}`)).join(', ');

/** "key = text" lines -> {key: text}; throws a message. */
function parseTexts(text) {
  const out = {};
  for (const line of listOf(text, /\n/)) {
    const m = /^([A-Za-z][\w-]*)\s*[=:]\s*(.*)$/.exec(line);
    if (!m || !m[2]) throw new Error(`Texts: write one per line as key = text, e.g. chat = Discutons, not "${line}".`);
    out[m[1]] = m[2];
  }
  return out;
}
const textsText = (texts) => Object.entries(texts || {}).map(([k, v]) => `${k} = ${v}`).join('\n');

/** A lowercase id from a name: "Sales EU" -> "sales-eu". */
function slug(name) {
  return String(name || '').normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-').replace(/^[-_]+|-+$/g, '').slice(0, 64);
}

/** The script tag that embeds a widget on a website. */
export function embedSnippet(id, origin = location.origin) {
  return `<script src="${origin}/widget.js" data-widget="${id}" async></script>`;
}

const browserZone = () => { try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch { return 'UTC'; } };
const zones = () => { try { return Intl.supportedValuesOf('timeZone'); } catch { return []; } };
const personName = (u) => (u && (u.displayName || u.username)) || '';

// ------------------------------------------------------------------ form pieces (light dialogs)

let uid = 0;
const nextId = (p) => `cs-${p}-${++uid}`;

/** A labelled field; hint under it, tied to the control for screen readers. */
function field(label, control, { hint = '', wide = false } = {}) {
  if (!control.id) control.id = nextId('f');
  let hintEl = null;
  if (hint) {
    hintEl = h('span.cs-hint', { id: `${control.id}-hint`, text: hint });
    control.setAttribute('aria-describedby', [control.getAttribute('aria-describedby'), hintEl.id].filter(Boolean).join(' '));
  }
  return h(`div.field${wide ? '.cs-wide' : ''}`, null, h('label.field-label', { for: control.id, text: label }), control, hintEl);
}
const input = (props = {}) => h('input.input.input-light', { type: 'text', autocomplete: 'off', spellcheck: 'false', ...props });
const textarea = (props = {}) => h('textarea.input.input-light.cs-textarea', { rows: '3', ...props });
const select = (options, value, props = {}) => h('select.select', props,
  options.map((o) => h('option', { value: o.value, text: o.label, 'prop:selected': o.value === value })));
function check(label, checked, props = {}) {
  const box = h('input', { type: 'checkbox', 'prop:checked': !!checked, ...props });
  return { box, el: h('label.cs-check', null, box, h('span', { text: label })) };
}
/** A duration field: shows "2 min", reads what is typed. */
function durationInput(seconds, props = {}) {
  const el = input({ inputmode: 'text', value: formatDuration(seconds), ...props });
  el.addEventListener('blur', () => {
    const v = parseDuration(el.value);
    if (Number.isFinite(v)) el.value = formatDuration(v);
  });
  return el;
}
function readDuration(el, what) {
  const v = parseDuration(el.value);
  if (!Number.isFinite(v) || v < 0) throw Object.assign(new Error(`${what}: write a duration such as 45 s, 2 min or 1:30.`), { field: el });
  return v;
}
function readCount(el, what) {
  const t = el.value.trim();
  if (!t) return 0;
  if (!/^\d+$/.test(t)) throw Object.assign(new Error(`${what}: write a whole number.`), { field: el });
  return Number(t);
}

/**
 * A settings dialog: the form, an alert for errors (the server's 400 message or ours) next to the
 * buttons, Save and Cancel. save() returns true when done (the dialog closes).
 */
function formDialog({ title, testid, body, saveText = 'Save', save }) {
  const formId = nextId('form');
  const error = h('p.form-error', { role: 'alert', 'data-testid': 'settings-error', hidden: true });
  const form = h('form.cs-form', { id: formId, novalidate: true }, body, error);
  const cancel = h('button.btn.btn-outline', { type: 'button', text: 'Cancel', 'data-testid': 'settings-cancel' });
  const ok = h('button.btn.btn-primary', { type: 'submit', form: formId, text: saveText, 'data-testid': 'settings-save' });
  const dlg = openDialog({ title, testid, wide: true, body: [form], foot: [cancel, ok] });
  dlg.el.classList.add('dialog-admin', 'cs-dialog');
  cancel.addEventListener('click', () => dlg.close());
  const showError = (err) => {
    error.textContent = err.status === 400 || err.field || !err.status ? err.message : `Could not save: ${err.message}`;
    error.hidden = false;
    error.scrollIntoView({ block: 'nearest' });
    if (err.field) err.field.focus();
  };
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    ok.disabled = true;
    try {
      if (await save()) dlg.close();
    } catch (err) {
      showError(err);
    } finally {
      ok.disabled = false;
    }
  });
  return { dlg, form, error };
}

// ------------------------------------------------------------------ the page

/**
 * @param {HTMLElement} root
 * @param {{client: any, navigate: (path: string) => void}} app
 */
export function renderContactSettings(root, app) {
  const role = app.client.me?.role || '';
  if (role !== 'admin') {
    notAllowed(root, { title: 'Contact settings', text: 'Only admins can change the contact settings.', navigate: app.navigate });
    return null;
  }
  document.title = 'Contact settings · Switchboard';
  const refresh = h('button.btn.btn-text.btn-sm', { type: 'button', 'data-testid': 'settings-refresh' }, h('span', { text: 'Refresh' }));
  const frame = pageFrame({ title: 'Contact settings', page: 'settings', role, navigate: app.navigate, controls: [refresh] });
  root.appendChild(frame.el);
  frame.el.classList.add('cc-settings');
  let destroyed = false;

  /** @type {any[]} */ let queues = [];
  /** @type {any[]} */ let widgets = [];
  /** @type {any[]} */ let profiles = [];
  /** @type {any[]} */ let users = [];
  const loadError = h('p.form-error', { role: 'alert', 'data-testid': 'settings-load-error', hidden: true });

  const agentsOf = () => users.filter((u) => (u.role === 'agent' || u.role === 'admin') && !u.disabled)
    .sort((a, b) => personName(a).localeCompare(personName(b)));
  const userById = (id) => users.find((u) => u.id === id);
  const queueName = (id) => queues.find((q) => q.id === id)?.name || id;

  // ---------------------------------------------------------------- sections
  const th = (text, cls) => h(`th${cls ? `.${cls}` : ''}`, { scope: 'col', text });
  function section(id, title, intro, addLabel, onAdd, headCells) {
    const body = h('tbody', { 'data-testid': `${id}-list` });
    const add = addLabel ? h('button.btn.btn-primary.btn-sm', { type: 'button', 'data-testid': `${id}-add`, onclick: onAdd }, icon('add', { size: 18 }), h('span', { text: addLabel })) : null;
    const el = h('section.cc-section', { 'aria-labelledby': `cs-${id}-title` },
      h('div.cc-section-head.cs-head', null, h('h2', { id: `cs-${id}-title`, text: title }), h('span.spacer'), add),
      h('p.muted.small.cs-intro', { text: intro }),
      h('div.cc-card', null, h('div.cc-table-wrap', null, h('table.cc-table.cs-table', { 'aria-labelledby': `cs-${id}-title` },
        h('thead', null, h('tr', null, headCells.map(([t, c]) => th(t, c)), th('Actions', 'cs-actions-col'))), body))));
    return { el, body, add };
  }
  const rowButton = (label, aria, testid, onclick, cls = '') => h(`button.btn.btn-text.btn-sm${cls}`, { type: 'button', text: label, 'aria-label': aria, 'data-testid': testid, onclick });
  const empty = (body, cols, text) => body.appendChild(h('tr', null, h('td.muted', { colspan: String(cols), text })));

  const queueSec = section('queues', 'Queues',
    'A queue is a line of visitors and the agents who answer them. Widgets and contact links lead visitors into a queue.',
    'New queue', () => editQueue(null),
    [['Queue'], ['Agents'], ['Routing'], ['Takes'], ['Hours']]);
  const widgetSec = section('widgets', 'Widgets',
    'A widget is the chat button on a website. Put its embed code in the site\'s pages; it works only on the sites you allow.',
    'New widget', () => editWidget(null),
    [['Widget'], ['Queue'], ['Allowed sites'], ['Portal']]);
  const agentSec = section('agents', 'Agents',
    'How many chats each agent takes at once and what they are good at. People with the role agent or admin can answer; give roles in People.',
    '', null, [['Agent'], ['Chat slots', 'num'], ['Skills'], ['Calls'], ['Queues']]);
  const portal = h('a', { href: '/contact', target: '_blank', rel: 'noopener', 'data-testid': 'portal-link', text: `${location.origin}/contact` });
  const intro = h('section.cc-section.cs-top', null,
    h('p.muted', null, 'Visitors reach you through the widgets on your websites, through each person\'s contact link, and through the contact portal at ', portal,
      ', which lists the widgets you choose and the people with a contact link.'),
    loadError);
  frame.main.append(intro, queueSec.el, widgetSec.el, agentSec.el);

  function renderQueues() {
    const body = queueSec.body;
    body.replaceChildren();
    if (!queues.length) empty(body, 6, 'No queues yet. Create one, then a widget that leads into it.');
    for (const q of queues) {
      const members = (q.members || []).map((m) => personName(userById(m.user)) || m.user);
      const hours = !q.hours ? 'Always open'
        : `${DAYS.filter(([d]) => (q.hours.days?.[d] || []).length).map(([, n]) => n.slice(0, 3)).join(' ') || 'Closed'} (${q.hours.timezone})`;
      body.appendChild(h('tr', { 'data-testid': 'queue-row', 'data-queue': q.id },
        h('th', { scope: 'row' }, h('span', { text: q.name }), h('span.cs-sub', { text: q.id })),
        h('td.cs-wrap', { title: members.join(', '), text: members.length ? (members.length > 3 ? `${members.slice(0, 3).join(', ')} +${members.length - 3}` : members.join(', ')) : 'None yet' }),
        h('td', { text: STRATEGY_LABEL[q.strategy || 'longest_idle'] || q.strategy }),
        h('td', { text: (q.media?.length ? q.media : MEDIA).map((m) => MEDIA_LABEL[m] || m).join(', ') }),
        h('td', { text: hours }),
        h('td.cs-actions-col', null, h('span.cs-actions', null,
          rowButton('Edit', `Edit the queue ${q.name}`, 'queue-edit', () => editQueue(q)),
          rowButton('Delete', `Delete the queue ${q.name}`, 'queue-delete', () => removeQueue(q), '.cs-danger')))));
    }
  }

  function renderWidgets() {
    const body = widgetSec.body;
    body.replaceChildren();
    if (!widgets.length) empty(body, 5, queues.length ? 'No widgets yet.' : 'No widgets yet. Create a queue first.');
    widgetSec.add.disabled = !queues.length;
    for (const w of widgets) {
      const origins = w.allowedOrigins || [];
      body.appendChild(h('tr', { 'data-testid': 'widget-row', 'data-widget': w.id },
        h('th', { scope: 'row' }, h('span', { text: w.title || w.id }), h('span.cs-sub', { text: w.id })),
        h('td', { text: queueName(w.queue) }),
        h('td.cs-wrap', { text: origins.length ? origins.join(', ') : 'This server\'s pages only' }),
        h('td', { text: w.listed ? 'Listed' : 'Not listed' }),
        h('td.cs-actions-col', null, h('span.cs-actions', null,
          rowButton('Embed code', `Embed code of the widget ${w.title || w.id}`, 'widget-embed', () => showEmbed(w)),
          rowButton('Edit', `Edit the widget ${w.title || w.id}`, 'widget-edit', () => editWidget(w)),
          rowButton('Delete', `Delete the widget ${w.title || w.id}`, 'widget-delete', () => removeWidget(w), '.cs-danger')))));
    }
  }

  function renderAgents() {
    const body = agentSec.body;
    body.replaceChildren();
    const list = agentsOf();
    if (!list.length) empty(body, 6, 'Nobody has the role agent or admin yet. Give roles in People.');
    for (const u of list) {
      const p = profiles.find((x) => x.user === u.id);
      const inQueues = queues.filter((q) => (q.members || []).some((m) => m.user === u.id)).map((q) => q.name);
      body.appendChild(h('tr', { 'data-testid': 'agent-row', 'data-user': u.id },
        h('th', { scope: 'row' }, h('span', { text: personName(u) }), h('span.cs-sub', { text: `@${u.username} · ${u.role}` })),
        h('td.num', { 'data-testid': 'agent-slots', text: p ? String(p.chatSlots) : `${DEFAULT_SLOTS}`, title: p ? '' : 'The default' }),
        h('td', { text: skillsText(p?.skills) || '–' }),
        h('td', { text: p?.exclusiveCalls ? 'No new chats in a call' : 'Chats in a call too' }),
        h('td.cs-wrap', { text: inQueues.join(', ') || 'In no queue' }),
        h('td.cs-actions-col', null, h('span.cs-actions', null,
          rowButton('Edit', `Edit the profile of ${personName(u)}`, 'agent-edit', () => editAgent(u, p))))));
    }
  }

  function renderAll() {
    renderQueues();
    renderWidgets();
    renderAgents();
  }

  async function load() {
    refresh.disabled = true;
    try {
      const [q, w, a, u] = await Promise.all([api('/api/v1/contact/queues'), api('/api/v1/contact/widgets'),
        api('/api/v1/contact/agents'), api('/api/v1/users')]);
      if (destroyed) return;
      queues = q.queues || [];
      widgets = w.widgets || [];
      profiles = a.agents || [];
      users = u.users || [];
      loadError.hidden = true;
      frame.el.dataset.loaded = 'true';
    } catch (err) {
      if (destroyed) return;
      loadError.textContent = err.status === 403 ? 'Only admins can change the contact settings.' : `Could not load the settings: ${err.message}`;
      loadError.hidden = false;
    } finally {
      refresh.disabled = false;
    }
    renderAll();
  }
  refresh.addEventListener('click', () => load().then(() => { if (loadError.hidden) toast('Settings updated'); }));

  // ---------------------------------------------------------------- a queue
  function editQueue(q0) {
    const isNew = !q0;
    const q = q0 || { strategy: 'longest_idle', media: ['chat'], members: [], offerTimeoutSeconds: 30, serviceLevelSeconds: 20, overflow: { to: '' }, afterHours: { to: '' }, hours: null };
    const name = input({ value: q.name || '', maxlength: '100', required: true, 'data-testid': 'queue-name' });
    const id = input({ value: q.id || '', maxlength: '64', required: true, 'data-testid': 'queue-id', readonly: !isNew, pattern: '[a-z0-9][a-z0-9_-]*' });
    let idEdited = !isNew;
    id.addEventListener('input', () => { idEdited = true; });
    name.addEventListener('input', () => { if (!idEdited) id.value = slug(name.value); });

    // Members: the agents and admins, checked in the queue's order (round robin follows it).
    const order = (q.members || []).map((m) => m.user);
    const weights = new Map((q.members || []).map((m) => [m.user, m.weight || 1]));
    const strategy = select(STRATEGIES, q.strategy || 'longest_idle', { 'data-testid': 'queue-strategy' });
    const strategyHint = h('span.cs-hint', { id: nextId('hint') });
    strategy.setAttribute('aria-describedby', strategyHint.id);
    const memberList = h('ul.cs-members', { 'data-testid': 'queue-members', 'aria-label': 'Members' });
    const candidates = [...agentsOf()];
    for (const uid0 of order) if (!candidates.some((u) => u.id === uid0)) candidates.push(userById(uid0) || { id: uid0, username: uid0, role: '?' });
    const boxes = new Map();
    for (const u of candidates) {
      const notAgent = u.role !== 'agent' && u.role !== 'admin';
      const c = check('', order.includes(u.id), { 'data-testid': 'queue-member', 'data-user': u.id, 'aria-label': `${personName(u)} is a member` });
      c.el.replaceChildren(c.box, h('span.cs-member-name', null, h('span', { text: personName(u) }),
        h('span.cs-hint', { text: notAgent ? `@${u.username}: not an agent any more` : `@${u.username} · ${u.role}` })));
      const weight = h('input.input.input-light.cs-weight', { type: 'number', min: '1', max: '1000', step: '1', value: String(weights.get(u.id) || 1),
        'aria-label': `Weight of ${personName(u)}`, 'data-testid': 'queue-member-weight', 'data-user': u.id });
      c.box.addEventListener('change', () => {
        if (c.box.checked && !order.includes(u.id)) order.push(u.id);
        if (!c.box.checked) order.splice(order.indexOf(u.id), 1);
      });
      boxes.set(u.id, { box: c.box, weight });
      memberList.appendChild(h('li.cs-member', null, c.el, weight));
    }
    if (!candidates.length) memberList.appendChild(h('li.cs-member.muted', { text: 'Nobody has the role agent or admin yet. Give roles in People.' }));
    const syncStrategy = () => {
      strategyHint.textContent = STRATEGIES.find((s) => s.value === strategy.value)?.hint || '';
      memberList.classList.toggle('cs-weighted', strategy.value === 'weighted_random');
    };
    strategy.addEventListener('change', syncStrategy);
    syncStrategy();

    const media = MEDIA.map((m) => check(MEDIA_LABEL[m], (q.media?.length ? q.media : MEDIA).includes(m), { 'data-testid': 'queue-media', value: m }));
    const offerTimeout = durationInput(q.offerTimeoutSeconds, { placeholder: '30 s', 'data-testid': 'queue-offer-timeout' });
    const wrapUp = durationInput(q.wrapUpSeconds, { placeholder: 'None', 'data-testid': 'queue-wrapup' });
    const codes = textarea({ 'data-testid': 'queue-wrapup-codes', placeholder: 'sale\nno answer\nfollow-up' });
    codes.value = (q.wrapUpCodes || []).join('\n');
    const sticky = durationInput(q.stickyWaitSeconds, { placeholder: 'Off', 'data-testid': 'queue-sticky' });
    const sla = durationInput(q.serviceLevelSeconds, { placeholder: '20 s', 'data-testid': 'queue-service-level' });
    const maxWait = durationInput(q.maxWaitSeconds, { placeholder: 'No limit', 'data-testid': 'queue-max-wait' });
    const maxLength = input({ inputmode: 'numeric', value: q.maxLength ? String(q.maxLength) : '', placeholder: 'No limit', 'data-testid': 'queue-max-length' });

    /** A target: where contacts go (overflow, after hours). */
    function target(value, noneLabel, testid) {
      const to = select([{ value: '', label: noneLabel }, { value: 'message', label: 'Ask the visitor to leave a message' },
        { value: 'callback', label: 'Offer the visitor a callback' }, { value: 'queue', label: 'Move them to another queue' }], value?.to || '', { 'data-testid': `${testid}-to` });
      const queue = h('select.select', { 'data-testid': `${testid}-queue` });
      const fill = () => {
        const others = queues.filter((x) => x.id !== (q.id || id.value));
        queue.replaceChildren(
          to.value === 'callback' ? h('option', { value: '', text: 'This queue' }) : null,
          others.map((x) => h('option', { value: x.id, text: x.name, 'prop:selected': x.id === value?.queue })));
        if (to.value === 'queue' && !others.length) queue.appendChild(h('option', { value: '', text: 'No other queue yet' }));
        queueField.hidden = to.value !== 'queue' && to.value !== 'callback';
      };
      const queueField = field(to.value === 'callback' ? 'Callbacks wait in' : 'Queue', queue);
      to.addEventListener('change', () => {
        queueField.querySelector('label').textContent = to.value === 'callback' ? 'Callbacks wait in' : 'Queue';
        fill();
      });
      fill();
      return { to, queue, queueField, read: () => (to.value === 'queue' || (to.value === 'callback' && queue.value) ? { to: to.value, queue: queue.value } : { to: to.value }) };
    }
    const overflow = target(q.overflow, 'Nowhere: they keep waiting', 'queue-overflow');
    const afterHours = target(q.afterHours, 'Closed: show the opening hours', 'queue-after-hours');

    // Opening hours.
    const always = check('Always open', !q.hours, { 'data-testid': 'queue-always-open' });
    const tzList = nextId('zones');
    const tz = input({ value: q.hours?.timezone || browserZone(), list: tzList, 'data-testid': 'queue-timezone' });
    const dayInputs = DAYS.map(([d, label]) => {
      const el = input({ value: spansText(q.hours?.days?.[d]), placeholder: 'Closed', 'data-testid': `queue-hours-${d}`, 'aria-label': `${label}: opening hours` });
      return { d, label, el };
    });
    if (!q.hours) for (const x of dayInputs.slice(0, 5)) x.el.value = '09:00-17:00';
    const copyMon = h('button.btn.btn-text.btn-sm', { type: 'button', text: 'Monday\'s hours for Tuesday to Friday', 'data-testid': 'queue-hours-copy' });
    copyMon.addEventListener('click', () => { for (const x of dayInputs.slice(1, 5)) x.el.value = dayInputs[0].el.value; });
    const holidays = input({ value: (q.hours?.holidays || []).join(', '), placeholder: '2026-12-25, 2027-01-01', 'data-testid': 'queue-holidays' });
    const hoursBox = h('div.cs-hours', null,
      h('div.cs-grid', null, field('Time zone', tz, { hint: 'A name like Europe/Paris or America/New_York.' }),
        field('Closed on these days', holidays, { hint: 'Holidays, as YYYY-MM-DD, separated by commas.' })),
      h('datalist', { id: tzList }, zones().map((z) => h('option', { value: z }))),
      h('div.cs-days', { role: 'group', 'aria-label': 'Opening hours per day' },
        dayInputs.map((x) => [h('label.field-label', { for: x.el.id || (x.el.id = nextId('day')), text: x.label }), x.el])),
      h('p.cs-hint', { text: 'Per day: from-to, e.g. 09:00-12:30, 13:30-18:00 (24:00 ends the day). Empty: closed.' }), copyMon);
    const syncHours = () => { hoursBox.hidden = always.box.checked; };
    always.box.addEventListener('change', syncHours);
    syncHours();

    const priority = input({ inputmode: 'numeric', value: q.priority ? String(q.priority) : '', placeholder: '0', 'data-testid': 'queue-priority' });
    const skills = input({ value: skillsText(q.skills), placeholder: 'english:2, billing', 'data-testid': 'queue-skills' });

    const body = [
      h('fieldset', null, h('legend', { text: 'Queue' }), h('div.cs-grid', null,
        field('Name', name, { hint: 'Agents and the supervisor see it.' }),
        field('Id', id, { hint: isNew ? 'In addresses and the API: lowercase letters, digits, - and _.' : 'The id of a queue cannot change.' }))),
      h('fieldset', null, h('legend', { text: 'Agents and routing' }),
        h('div.cs-grid', null, h('div.field.cs-wide', null, h('label.field-label', { for: strategy.id || (strategy.id = nextId('strategy')), text: 'Who gets an offer first' }), strategy, strategyHint)),
        h('div.field', null, h('span.field-label', { text: 'Members' }), memberList,
          h('span.cs-hint', { text: 'The agents who answer this queue. With weighted random, the number is each one\'s share.' })),
        h('div.cs-grid', null,
          h('div.field', { role: 'group', 'aria-label': 'Visitors may' }, h('span.field-label', { text: 'Visitors may' }), h('div.cs-checks', null, media.map((m) => m.el))),
          field('An offer rings for', offerTimeout, { hint: 'Then it goes to someone else. Default 30 s.' }),
          field('Service level target', sla, { hint: 'Answered within this counts as on time in reports. Default 20 s.' }),
          field('Wait for the last agent', sticky, { hint: 'A returning visitor waits this long for the agent they last talked to. Empty: off.' }))),
      h('fieldset', null, h('legend', { text: 'Wrap-up' }), h('div.cs-grid', null,
        field('Wrap-up time', wrapUp, { hint: 'After a contact ends, the agent gets no offer for this long, or until they save the wrap-up.' }),
        field('Wrap-up codes', codes, { hint: 'One per line: the outcomes agents choose from. Empty: they type their own.' }))),
      h('fieldset', null, h('legend', { text: 'When the line is too long' }), h('div.cs-grid', null,
        field('Longest wait', maxWait, { hint: 'Empty: no limit.' }),
        field('Most visitors waiting', maxLength, { hint: 'Empty: no limit.' }),
        field('Then', overflow.to), overflow.queueField)),
      h('fieldset', null, h('legend', { text: 'Opening hours' }), always.el, hoursBox,
        h('div.cs-grid', null, field('When closed', afterHours.to), afterHours.queueField)),
      h('details.cs-more', { open: !!(q.priority || Object.keys(q.skills || {}).length) }, h('summary', { text: 'Priority and skills' }),
        h('div.cs-grid', null,
          field('Priority', priority, { hint: 'Agents in several queues serve the higher number first.' }),
          field('Skills needed', skills, { hint: 'Only agents with these skills (at this level or more) get its contacts.' }))),
    ];

    formDialog({
      title: isNew ? 'New queue' : `Queue ${q.name}`, testid: 'queue-dialog', body, saveText: isNew ? 'Create queue' : 'Save',
      save: async () => {
        const qid = id.value.trim();
        if (!name.value.trim()) throw Object.assign(new Error('Give the queue a name.'), { field: name });
        if (!ID_RE.test(qid)) throw Object.assign(new Error('Id: use 1-64 lowercase letters, digits, - or _, starting with a letter or digit.'), { field: id });
        if (isNew && queues.some((x) => x.id === qid)) throw Object.assign(new Error(`There is already a queue with the id ${qid}.`), { field: id });
        const chosen = MEDIA.filter((m, i) => media[i].box.checked);
        if (!chosen.length) throw Object.assign(new Error('Choose at least one way visitors may get in touch.'), { field: media[0].box });
        const weighted = strategy.value === 'weighted_random';
        const doc = {
          id: qid, name: name.value.trim(), priority: readCount(priority, 'Priority'), strategy: strategy.value,
          members: order.filter((u) => boxes.get(u)?.box.checked).map((u) => {
            const w = Math.round(Number(boxes.get(u).weight.value));
            if (weighted && !(w >= 1)) throw Object.assign(new Error('Weights: write a whole number of 1 or more.'), { field: boxes.get(u).weight });
            return w > 1 ? { user: u, weight: w } : { user: u };
          }),
          media: chosen,
          offerTimeoutSeconds: readDuration(offerTimeout, 'Offer rings for'),
          wrapUpSeconds: readDuration(wrapUp, 'Wrap-up time'),
          stickyWaitSeconds: readDuration(sticky, 'Wait for the last agent'),
          serviceLevelSeconds: readDuration(sla, 'Service level target'),
          maxWaitSeconds: readDuration(maxWait, 'Longest wait'),
          maxLength: readCount(maxLength, 'Most visitors waiting'),
          overflow: overflow.read(),
          afterHours: afterHours.read(),
          hours: null,
        };
        const skillMap = (() => { try { return parseSkills(skills.value); } catch (e) { throw Object.assign(e, { field: skills }); } })();
        if (Object.keys(skillMap).length) doc.skills = skillMap;
        const codeList = listOf(codes.value, /\n/);
        if (codeList.length) doc.wrapUpCodes = codeList;
        if (!always.box.checked) {
          const days = {};
          for (const x of dayInputs) {
            try {
              const spans = parseSpans(x.el.value, x.label);
              if (spans.length) days[x.d] = spans;
            } catch (e) { throw Object.assign(e, { field: x.el }); }
          }
          doc.hours = { timezone: tz.value.trim(), days };
          const hol = listOf(holidays.value, /[\s,;]+/);
          if (hol.length) doc.hours.holidays = hol;
        }
        const saved = await api(`/api/v1/contact/queues/${encodeURIComponent(qid)}`, { method: 'PUT', body: doc });
        queues = [...queues.filter((x) => x.id !== saved.id), saved].sort((a, b) => a.id.localeCompare(b.id));
        renderAll();
        toast(isNew ? `Queue ${saved.name} created.` : `Queue ${saved.name} saved.`);
        return true;
      },
    });
    (isNew ? name : strategy).focus();
  }

  async function removeQueue(q) {
    const ok = await confirmDialog({
      title: `Delete the queue ${q.name}?`, ok: 'Delete queue', danger: true, testid: 'settings-confirm',
      text: 'Its reports stay. A queue that a widget or another queue\'s overflow uses cannot be deleted: change those first.',
    });
    if (!ok) return;
    try {
      await api(`/api/v1/contact/queues/${encodeURIComponent(q.id)}`, { method: 'DELETE' });
      queues = queues.filter((x) => x.id !== q.id);
      renderAll();
      toast(`Queue ${q.name} deleted.`);
    } catch (err) {
      toast(`Could not delete the queue ${q.name}: ${err.message}`, { kind: 'error', timeout: 8000 });
    }
    queueSec.add.focus();
  }

  // ---------------------------------------------------------------- a widget
  function editWidget(w0) {
    const isNew = !w0;
    const w = w0 || { queue: queues[0]?.id || '', allowedOrigins: [], title: 'Chat with us' };
    const title = input({ value: w.title || '', maxlength: '100', 'data-testid': 'widget-title' });
    const id = input({ value: w.id || '', maxlength: '64', 'data-testid': 'widget-id', readonly: !isNew });
    if (isNew && !w.id) id.value = slug(queues.find((q) => q.id === w.queue)?.name || '') || '';
    let idEdited = !isNew;
    id.addEventListener('input', () => { idEdited = true; });
    const queue = select(queues.map((q) => ({ value: q.id, label: q.name })), w.queue, { 'data-testid': 'widget-queue' });
    queue.addEventListener('change', () => { if (!idEdited) id.value = slug(queues.find((q) => q.id === queue.value)?.name || ''); });
    const origins = textarea({ 'data-testid': 'widget-origins', placeholder: 'https://www.example.com' });
    origins.value = (w.allowedOrigins || []).join('\n');
    const consent = textarea({ 'data-testid': 'widget-consent', maxlength: '1000', placeholder: 'We keep this conversation for 30 days.' });
    consent.value = w.consent || '';
    const listed = check('List it on the contact portal', w.listed, { 'data-testid': 'widget-listed' });
    const phone = input({ value: w.phone || '', maxlength: '64', 'data-testid': 'widget-phone', placeholder: '+15551234567', inputmode: 'tel', autocomplete: 'off' });
    const texts = textarea({ 'data-testid': 'widget-texts', rows: '4', placeholder: 'chat = Discutons\nsend = Envoyer' });
    texts.value = textsText(w.texts);
    const body = [
      h('fieldset', null, h('legend', { text: 'Widget' }), h('div.cs-grid', null,
        field('Queue', queue, { hint: 'Where its visitors wait.' }),
        field('Id', id, { hint: isNew ? 'In the embed code: lowercase letters, digits, - and _.' : 'The id of a widget cannot change.' }),
        field('Title', title, { hint: 'On its button and at the top of the chat.', wide: true }),
        field('Phone (click-to-call)', phone, { hint: 'A number or extension visitors can call from the widget through the SIP gateway, while the queue is open; they never see it. Empty: no phone button.', wide: true }))),
      h('fieldset', null, h('legend', { text: 'Where it may appear' }),
        field('Allowed sites', origins, { hint: 'One origin per line: scheme and host, and the port if not the usual one, e.g. https://www.example.com. No paths. This server\'s own pages are always allowed.' }),
        listed.el, h('p.cs-hint', null, 'Listed widgets show on the contact portal, ', h('a', { href: '/contact', target: '_blank', rel: 'noopener', text: `${location.origin}/contact` }), '.')),
      h('fieldset', null, h('legend', { text: 'Words' }),
        field('Consent notice', consent, { hint: 'Shown before a chat starts; the visitor must agree. Empty: none.' }),
        h('details.cs-more', { open: !!Object.keys(w.texts || {}).length }, h('summary', { text: 'Text overrides (optional)' }),
          field('Texts', texts, { hint: `One per line, key = text, to change the widget's words (e.g. for another language). Keys: ${TEXT_KEYS.join(', ')}.` }))),
    ];
    formDialog({
      title: isNew ? 'New widget' : `Widget ${w.title || w.id}`, testid: 'widget-dialog', body, saveText: isNew ? 'Create widget' : 'Save',
      save: async () => {
        const wid = id.value.trim();
        if (!ID_RE.test(wid)) throw Object.assign(new Error('Id: use 1-64 lowercase letters, digits, - or _, starting with a letter or digit.'), { field: id });
        if (isNew && widgets.some((x) => x.id === wid)) throw Object.assign(new Error(`There is already a widget with the id ${wid}.`), { field: id });
        const doc = { id: wid, queue: queue.value, title: title.value.trim(), allowedOrigins: listOf(origins.value, /[\s,]+/) };
        if (consent.value.trim()) doc.consent = consent.value.trim();
        if (listed.box.checked) doc.listed = true;
        // A number loses its separators; an extension (front-desk) is kept as typed.
        const ph = phone.value.trim();
        if (ph) doc.phone = /^[+\d\s().-]+$/.test(ph) ? ph.replace(/[\s().-]/g, '') : ph;
        try {
          const t = parseTexts(texts.value);
          if (Object.keys(t).length) doc.texts = t;
        } catch (e) { throw Object.assign(e, { field: texts }); }
        const saved = await api(`/api/v1/contact/widgets/${encodeURIComponent(wid)}`, { method: 'PUT', body: doc });
        widgets = [...widgets.filter((x) => x.id !== saved.id), saved].sort((a, b) => a.id.localeCompare(b.id));
        renderAll();
        toast(isNew ? `Widget ${saved.title || saved.id} created.` : `Widget ${saved.title || saved.id} saved.`);
        if (isNew) setTimeout(() => showEmbed(saved), 0);
        return true;
      },
    });
    (isNew ? queue : title).focus();
  }

  /** The embed code of a widget, to copy, and where else visitors find it. */
  function showEmbed(w) {
    const snippet = embedSnippet(w.id);
    const code = h('textarea.input.input-light.cs-textarea.cs-snippet', { readonly: true, rows: '3', id: nextId('snippet'), 'data-testid': 'widget-snippet', spellcheck: 'false' });
    code.value = snippet;
    code.addEventListener('focus', () => code.select());
    const copy = h('button.btn.btn-outline', { type: 'button', 'data-testid': 'widget-copy' }, icon('copy', { size: 18 }), h('span', { text: 'Copy' }));
    copy.addEventListener('click', async () => {
      if (await copyText(snippet)) {
        copy.lastChild.textContent = 'Copied';
        toast('Embed code copied');
        setTimeout(() => { if (copy.isConnected) copy.lastChild.textContent = 'Copy'; }, 2000);
      } else {
        code.focus();
        toast('Could not copy: select the code and copy it yourself.', { kind: 'error' });
      }
    });
    const origins = w.allowedOrigins || [];
    const done = h('button.btn.btn-primary', { type: 'button', text: 'Done', 'data-testid': 'embed-done' });
    const dlg = openDialog({
      title: `Embed ${w.title || w.id}`, testid: 'embed-dialog', wide: true,
      body: [
        h('div.field', null, h('label.field-label', { for: code.id, text: 'Embed code' }), code,
          h('span.cs-hint', { text: 'Paste it into the pages of your website, before </body>. The chat button appears at the bottom right.' })),
        h('div', null, copy),
        h('p.small', { text: origins.length ? `It works on ${origins.join(', ')} and on this server's pages.` : 'No site is allowed yet: it works only on this server\'s pages. Edit the widget to add your website.' }),
        h('p.small', null, w.listed ? 'It is listed on the contact portal, ' : 'It is not listed on the contact portal, ',
          h('a', { href: '/contact', target: '_blank', rel: 'noopener', 'data-testid': 'embed-portal', text: `${location.origin}/contact` }),
          w.listed ? '.' : '. Edit the widget to list it.'),
      ],
      foot: [done],
    });
    dlg.el.classList.add('cs-dialog');
    done.addEventListener('click', () => dlg.close());
    code.focus();
  }

  async function removeWidget(w) {
    const ok = await confirmDialog({
      title: `Delete the widget ${w.title || w.id}?`, ok: 'Delete widget', danger: true, testid: 'settings-confirm',
      text: 'Its button stops working on the websites that embed it, and it leaves the contact portal.',
    });
    if (!ok) return;
    try {
      await api(`/api/v1/contact/widgets/${encodeURIComponent(w.id)}`, { method: 'DELETE' });
      widgets = widgets.filter((x) => x.id !== w.id);
      renderAll();
      toast(`Widget ${w.title || w.id} deleted.`);
    } catch (err) {
      toast(`Could not delete the widget: ${err.message}`, { kind: 'error', timeout: 8000 });
    }
    widgetSec.add.focus();
  }

  // ---------------------------------------------------------------- an agent's profile
  function editAgent(u, p) {
    const slots = h('input.input.input-light', { type: 'number', min: '0', max: '20', step: '1', value: String(p ? p.chatSlots : DEFAULT_SLOTS), 'data-testid': 'agent-chat-slots' });
    const skills = input({ value: skillsText(p?.skills), placeholder: 'english:2, billing', 'data-testid': 'agent-skills' });
    const exclusive = check('No new chats during a voice or video call', p?.exclusiveCalls, { 'data-testid': 'agent-exclusive' });
    formDialog({
      title: `Agent ${personName(u)}`, testid: 'agent-dialog',
      body: [h('div.cs-grid', null,
        field('Chat slots', slots, { hint: 'How many chats at once (0 to 20). Calls take one more slot of their own.' }),
        field('Skills', skills, { hint: 'name:level, separated by commas. Queues that need a skill go to agents who have it.' })),
      exclusive.el],
      save: async () => {
        const doc = { chatSlots: readCount(slots, 'Chat slots'), exclusiveCalls: exclusive.box.checked };
        try {
          const s = parseSkills(skills.value);
          if (Object.keys(s).length) doc.skills = s;
        } catch (e) { throw Object.assign(e, { field: skills }); }
        const saved = await api(`/api/v1/contact/agents/${encodeURIComponent(u.id)}`, { method: 'PUT', body: doc });
        profiles = [...profiles.filter((x) => x.user !== saved.user), saved];
        renderAgents();
        toast(`${personName(u)}'s profile saved.`);
        return true;
      },
    });
    slots.focus();
  }

  // Back in this tab: another admin may have changed something meanwhile.
  const onVisible = () => { if (document.visibilityState === 'visible' && !document.querySelector('dialog[open]')) load(); };
  document.addEventListener('visibilitychange', onVisible);

  for (const sec of [queueSec, widgetSec, agentSec]) empty(sec.body, 6, 'Loading…');
  load();
  frame.main.focus({ preventScroll: true });

  return {
    destroy() {
      destroyed = true;
      document.removeEventListener('visibilitychange', onVisible);
    },
  };
}

export { SETTINGS_PATH };

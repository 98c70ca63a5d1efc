// The telephony admin page (/telephony, admins): call records (filters, a CSV download, calls per hour
// by outcome and the quality of each call drawn with charts.js), SIP accounts (list, add, disable,
// reset the password, delete), trunks and numbers (docs/api.md, "Telephony" and "Trunks and
// numbers"). Tabs: #records, #accounts, #trunks, #numbers. Everything users or phones chose is set as
// text, never parsed as HTML.
import { h, icon, toast } from './ui.js';
import { api } from './session.js';
import { pageFrame, notAllowed, percent } from './contact-ui.js';
import { barChart } from './charts.js';
import { openDialog } from './dialogs.js';
import { clock, OUTCOME_TEXT } from './phone.js';

const TABS = [['records', 'Call records'], ['accounts', 'SIP accounts'], ['trunks', 'Trunks'], ['numbers', 'Numbers']];
const OUTCOMES = ['answered', 'busy', 'no_answer', 'rejected', 'cancelled', 'failed'];
const OUTCOME_COLOR = { answered: '#81c995', busy: '#fdd663', no_answer: '#8ab4f8', rejected: '#fcad70', cancelled: '#9aa0a6', failed: '#f28b82' };
const QUALITY_COLOR = { good: '#81c995', fair: '#fdd663', poor: '#f28b82' };

/** A call's audio quality from its loss (0..1) and jitter (ms): good, fair or poor. */
export function quality(r) {
  if (r.loss < 0.01 && r.jitterMs < 20) return 'good';
  if (r.loss < 0.05 && r.jitterMs < 50) return 'fair';
  return 'poor';
}

/** Calls per hour by outcome, over the hours the records span (at most the last 48). */
export function perHour(records) {
  const hourOf = (at) => Math.floor(new Date(at).getTime() / 3600000);
  if (!records.length) return { hours: [], counts: {} };
  const hs = records.map((r) => hourOf(r.startedAt));
  const last = Math.max(...hs);
  const first = Math.max(Math.min(...hs), last - 47);
  const hours = [];
  for (let x = first; x <= last; x++) hours.push(x);
  const counts = Object.fromEntries(OUTCOMES.map((o) => [o, hours.map(() => 0)]));
  for (const r of records) {
    const i = hourOf(r.startedAt) - first;
    if (i >= 0 && counts[r.outcome]) counts[r.outcome][i] += 1;
  }
  return { hours, counts };
}

const th = (text, cls) => h(`th${cls ? `.${cls}` : ''}`, { scope: 'col', text });
const when = (at) => new Date(at).toLocaleString([], { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit' });

/** A labelled form field. */
function field(label, control, hint) {
  return h('label.field', null, h('span.field-label', { text: label }), control, hint ? h('span.muted.small', { text: hint }) : null);
}

/**
 * @param {HTMLElement} root
 * @param {{client: any, navigate: (path: string) => void}} app
 */
export function renderTelephony(root, app) {
  const role = app.client.me?.role || '';
  if (role !== 'admin') {
    notAllowed(root, { title: 'Telephony', text: 'Only admins manage telephony.', navigate: app.navigate });
    return null;
  }
  document.title = 'Telephony · Switchboard';
  const frame = pageFrame({ title: 'Telephony', page: 'telephony', role, navigate: app.navigate });
  root.appendChild(frame.el);
  let destroyed = false;
  const charts = [];

  // ------------------------------------------------------------------ tabs
  const tabList = h('div.tel-tabs', { role: 'tablist', 'aria-label': 'Telephony' });
  const panels = {};
  const tabs = {};
  for (const [key, label] of TABS) {
    tabs[key] = h('button.tel-tab', { type: 'button', role: 'tab', id: `tel-tab-${key}`, 'aria-controls': `tel-panel-${key}`, 'data-testid': `tab-${key}`, text: label });
    panels[key] = h('section.tel-panel', { role: 'tabpanel', id: `tel-panel-${key}`, 'aria-labelledby': `tel-tab-${key}`, 'data-testid': `panel-${key}`, hidden: true });
    tabs[key].addEventListener('click', () => select(key, true));
    tabList.appendChild(tabs[key]);
  }
  tabList.addEventListener('keydown', (ev) => {
    const keys = TABS.map(([k]) => k);
    const i = keys.findIndex((k) => tabs[k] === document.activeElement);
    if (i < 0) return;
    let j = -1;
    if (ev.key === 'ArrowRight') j = (i + 1) % keys.length;
    else if (ev.key === 'ArrowLeft') j = (i - 1 + keys.length) % keys.length;
    else if (ev.key === 'Home') j = 0;
    else if (ev.key === 'End') j = keys.length - 1;
    if (j < 0) return;
    ev.preventDefault();
    select(keys[j], true);
    tabs[keys[j]].focus();
  });
  const loaded = {};
  function select(key, push) {
    for (const [k] of TABS) {
      const on = k === key;
      tabs[k].setAttribute('aria-selected', String(on));
      tabs[k].tabIndex = on ? 0 : -1;
      panels[k].hidden = !on;
    }
    if (push && location.hash !== `#${key}`) history.replaceState({}, '', `/telephony#${key}`);
    if (!loaded[key]) {
      loaded[key] = true;
      ({ records: loadRecords, accounts: loadAccounts, trunks: loadTrunks, numbers: loadNumbers })[key]();
    }
  }
  frame.main.appendChild(h('div.tel-page', null, tabList, ...Object.values(panels)));

  // ------------------------------------------------------------------ call records
  const fFrom = h('input.input', { type: 'datetime-local', 'data-testid': 'rec-from' });
  const fTo = h('input.input', { type: 'datetime-local', 'data-testid': 'rec-to' });
  const fQ = h('input.input', { type: 'search', placeholder: 'Number or extension', maxlength: '64', 'data-testid': 'rec-q' });
  const fOutcome = h('select.select', { 'data-testid': 'rec-outcome' }, h('option', { value: '', text: 'Any outcome' }),
    OUTCOMES.map((o) => h('option', { value: o, text: OUTCOME_TEXT[o] || o })));
  const fDir = h('select.select', { 'data-testid': 'rec-direction' }, h('option', { value: '', text: 'Both directions' }),
    h('option', { value: 'inbound', text: 'Inbound' }), h('option', { value: 'outbound', text: 'Outbound' }));
  const apply = h('button.btn.btn-primary.btn-sm', { type: 'submit', text: 'Show' });
  const csv = h('a.btn.btn-outline.btn-sm', { href: '/api/v1/sip/calls?format=csv', download: 'call-records.csv', 'data-testid': 'rec-csv' }, icon('download', { size: 16 }), h('span', { text: 'CSV' }));
  const filters = h('form.tel-filters', { 'aria-label': 'Filter call records' },
    field('From', fFrom), field('To', fTo), field('Number', fQ), field('Outcome', fOutcome), field('Direction', fDir), apply, csv);
  const recError = h('p.form-error', { role: 'alert', hidden: true, 'data-testid': 'rec-error' });
  const recBody = h('tbody', { 'data-testid': 'rec-rows' });
  const recTable = h('table.cc-table', { 'aria-label': 'Call records' },
    h('thead', null, h('tr', null, th('Started'), th('Direction'), th('From'), th('To'), th('Trunk'), th('Duration', 'num'),
      th('Outcome'), th('Cause'), th('Codec'), th('Loss', 'num'), th('Jitter', 'num'))), recBody);
  const recMore = h('button.btn.btn-text.btn-sm', { type: 'button', text: 'Show more', hidden: true, 'data-testid': 'rec-more' });
  const hourChart = barChart({ title: 'Calls per hour by outcome', description: 'How many calls started in each hour, by how they ended.',
    categories: [], series: [], integer: true, testid: 'chart-per-hour' });
  const lossChart = barChart({ title: 'Packet loss per answered call', description: 'Packet loss of each answered call, coloured by its quality.',
    categories: [], series: [], format: (v) => percent(v), testid: 'chart-loss' });
  const jitterChart = barChart({ title: 'Jitter per answered call (ms)', description: 'Interarrival jitter of each answered call, coloured by its quality.',
    categories: [], series: [], testid: 'chart-jitter' });
  charts.push(hourChart, lossChart, jitterChart);
  panels.records.append(
    h('div.cc-card', null, filters, recError),
    h('div.tel-charts', null, h('div.cc-card', null, hourChart.el), h('div.cc-card', null, lossChart.el), h('div.cc-card', null, jitterChart.el)),
    h('div.cc-card', null, h('div.cc-table-wrap', null, recTable), recMore));
  let recNext = '';
  let recParams = '';
  filters.addEventListener('submit', (ev) => {
    ev.preventDefault();
    loadRecords();
  });
  recMore.addEventListener('click', () => loadRecords(recNext));

  function recordQuery() {
    const p = new URLSearchParams();
    const iso = (v) => (v ? new Date(v).toISOString().replace(/\.\d{3}Z$/, 'Z') : '');
    if (fFrom.value) p.set('from', iso(fFrom.value));
    if (fTo.value) p.set('to', iso(fTo.value));
    if (fQ.value.trim()) p.set('q', fQ.value.trim());
    if (fOutcome.value) p.set('outcome', fOutcome.value);
    if (fDir.value) p.set('direction', fDir.value);
    return p;
  }

  function recordRow(r) {
    const q = r.answeredAt ? quality(r) : '';
    const party = (num, name) => h('span', { title: name || null, text: name ? `${name} (${num})` : num || '–' });
    return h('tr', { 'data-testid': 'rec-row', 'data-outcome': r.outcome, 'data-call-id': r.callId },
      h('td', null, h('time', { datetime: r.startedAt, text: when(r.startedAt) })),
      h('td', { text: r.direction === 'inbound' ? 'Inbound' : 'Outbound' }),
      h('td', { 'data-testid': 'rec-from-cell' }, party(r.from, r.fromName)),
      h('td', { 'data-testid': 'rec-to-cell' }, party(r.to, '')),
      h('td', { text: r.trunk || '–' }),
      h('td.num', { text: r.answeredAt ? clock(r.duration) : '–' }),
      h('td', null, h(`span.cc-chip`, { style: { color: OUTCOME_COLOR[r.outcome] || null }, text: OUTCOME_TEXT[r.outcome] || r.outcome })),
      h('td', { text: [r.status || '', r.cause].filter(Boolean).join(' ') || '–' }),
      h('td', { text: r.codec || '–' }),
      h(`td.num${q ? `.tel-q-${q}` : ''}`, { text: r.answeredAt ? percent(r.loss) : '–', title: q ? `Quality: ${q}` : null }),
      h(`td.num${q ? `.tel-q-${q}` : ''}`, { text: r.answeredAt ? `${Math.round(r.jitterMs * 10) / 10} ms` : '–' }));
  }

  async function loadRecords(cursor = '') {
    const p = recordQuery();
    recParams = p.toString();
    const csvParams = new URLSearchParams(p);
    csvParams.set('format', 'csv');
    csv.href = `/api/v1/sip/calls?${csvParams}`;
    const page = new URLSearchParams(p);
    page.set('limit', '100');
    if (cursor) page.set('cursor', cursor);
    try {
      const [data, chartData] = await Promise.all([
        api(`/api/v1/sip/calls?${page}`),
        cursor ? null : api(`/api/v1/sip/calls?${new URLSearchParams([...p, ['limit', '1000']])}`),
      ]);
      if (destroyed || recParams !== p.toString()) return;
      recError.hidden = true;
      if (!cursor) recBody.replaceChildren();
      for (const r of data.calls || []) recBody.appendChild(recordRow(r));
      if (!recBody.children.length) recBody.appendChild(h('tr', null, h('td.muted.tel-empty', { colspan: '11', text: 'No calls match.' })));
      recNext = data.next || '';
      recMore.hidden = !recNext;
      if (chartData) drawCharts(chartData.calls || []);
    } catch (err) {
      if (destroyed) return;
      recError.textContent = err.message;
      recError.hidden = false;
    }
  }

  function drawCharts(records) {
    const { hours, counts } = perHour(records);
    hourChart.update({
      categories: hours.map((x) => new Date(x * 3600000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })),
      fullCategories: hours.map((x) => new Date(x * 3600000).toLocaleString([], { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' })),
      series: OUTCOMES.filter((o) => counts[o]?.some((n) => n > 0)).map((o) => ({ key: o, name: OUTCOME_TEXT[o] || o, values: counts[o], color: OUTCOME_COLOR[o] })),
    });
    // The last 40 answered calls, oldest first; one series per quality, so each bar has its colour.
    const answered = records.filter((r) => r.answeredAt).slice(0, 40).reverse();
    const cats = answered.map((r) => when(r.startedAt));
    const byQuality = (value) => ['good', 'fair', 'poor'].map((q) => ({
      key: q, name: q[0].toUpperCase() + q.slice(1), color: QUALITY_COLOR[q],
      values: answered.map((r) => (quality(r) === q ? value(r) : null)),
    })).filter((s) => s.values.some((v) => v !== null));
    lossChart.update({ categories: cats, series: byQuality((r) => r.loss) });
    jitterChart.update({ categories: cats, series: byQuality((r) => r.jitterMs) });
  }

  // ------------------------------------------------------------------ SIP accounts
  const { error: accError, body: accBody } = listPanel(panels.accounts, {
    id: 'acc', title: 'SIP accounts', add: 'Add a SIP account', onAdd: () => accountForm(),
    hint: 'Desk phones and softphones register with these. Link one to a person to let it ring their browser and call from it.',
    columns: [th('Extension'), th('Name'), th('Person'), th('Registered'), th('State'), th('Actions')] });

  const userName = (id) => {
    const u = app.client.users.get(id);
    return u ? (u.displayName || u.username) : id;
  };
  /** A person by their username (numbers name people so), for showing. */
  const personByUsername = (username) => {
    const u = [...app.client.users.values()].find((x) => x.username === String(username).toLowerCase());
    return u ? (u.displayName || u.username) : username;
  };

  async function loadAccounts() {
    try {
      if (!app.client.users.size) await app.client.loadUsers().catch(() => {});
      const data = await api('/api/v1/sip/accounts');
      if (destroyed) return;
      accError.hidden = true;
      accBody.replaceChildren();
      for (const a of data.accounts || []) accBody.appendChild(accountRow(a));
      if (!accBody.children.length) accBody.appendChild(h('tr', null, h('td.muted.tel-empty', { colspan: '6', text: 'No SIP accounts yet.' })));
    } catch (err) {
      showError(accError, err);
    }
  }

  function accountRow(a) {
    const regs = a.registrations || [];
    const act = (text, testid, fn) => h('button.btn.btn-text.btn-sm', { type: 'button', text, 'data-testid': testid, onclick: fn });
    return h('tr', { 'data-testid': 'acc-row', 'data-username': a.username },
      h('th', { scope: 'row', text: a.username }),
      h('td', { text: a.displayName || '–' }),
      h('td', { text: a.userId ? userName(a.userId) : '–' }),
      h('td', null, regs.length ? h('span.tel-ok', { text: `${regs.length} (${regs.map((r) => r.userAgent || r.transport).filter(Boolean).join(', ') || 'yes'})` }) : h('span.muted', { text: 'No' })),
      h('td', null, a.enabled ? h('span.tel-ok', { text: a.needsPassword ? 'Needs a new password' : 'Enabled' }) : h('span.tel-bad', { text: 'Disabled' }),
        a.mediaEncryption === 'sdes' ? h('span.muted', { 'data-testid': 'acc-srtp', text: ' · SRTP' }) : null),
      h('td', null, h('span.tel-actions', null,
        act(a.enabled ? 'Disable' : 'Enable', 'acc-toggle', () => patchAccount(a, { enabled: !a.enabled })),
        act(a.mediaEncryption === 'sdes' ? 'Plain media' : 'Encrypt media', 'acc-srtp-toggle',
          () => patchAccount(a, { mediaEncryption: a.mediaEncryption === 'sdes' ? 'none' : 'sdes' })),
        act('Reset password', 'acc-password', () => resetPassword(a)),
        act('Delete', 'acc-delete', () => confirmDelete(`the SIP account ${a.username}`, `/api/v1/sip/accounts/${encodeURIComponent(a.id)}`, loadAccounts)))));
  }

  async function patchAccount(a, body) {
    try {
      await api(`/api/v1/sip/accounts/${encodeURIComponent(a.id)}`, { method: 'PATCH', body });
      if ('mediaEncryption' in body) toast(body.mediaEncryption === 'sdes' ? `Calls to ${a.username} now require SRTP` : `Calls to ${a.username} use plain RTP`);
      else toast(body.enabled ? `${a.username} enabled` : `${a.username} disabled`);
      loadAccounts();
    } catch (err) {
      toast(err.message, { kind: 'error' });
    }
  }

  function showPassword(title, username, password) {
    openDialog({ title, testid: 'acc-password-dialog', body: [
      h('p', { text: `The password for ${username}. It is shown once: enter it in the phone now.` }),
      h('p.tel-secret', { 'data-testid': 'acc-password-value', text: password })] });
  }

  async function resetPassword(a) {
    try {
      const out = await api(`/api/v1/sip/accounts/${encodeURIComponent(a.id)}/password`, { method: 'POST', body: {} });
      showPassword('New password', a.username, out.password);
      loadAccounts();
    } catch (err) {
      toast(err.message, { kind: 'error' });
    }
  }

  function userSelect(value) {
    const people = [...app.client.users.values()].filter((u) => !u.disabled).sort((x, y) => (x.displayName || x.username).localeCompare(y.displayName || y.username));
    return h('select.select', { 'data-testid': 'acc-user' }, h('option', { value: '', text: 'Nobody' }),
      people.map((u) => h('option', { value: u.id, text: `${u.displayName || u.username} (@${u.username})`, selected: u.id === value })));
  }

  // mediaSelect picks what our calls to a phone or provider offer (media_encryption).
  function mediaSelect(testid, value) {
    return h('select.select', { 'data-testid': testid }, [['none', 'None (plain RTP)'], ['sdes', 'SRTP with SDES keys (required)']]
      .map(([v, l]) => h('option', { value: v, text: l, selected: (value || 'none') === v })));
  }

  function accountForm() {
    const username = h('input.input.input-light', { required: true, maxlength: '64', autocomplete: 'off', 'data-testid': 'acc-username' });
    const name = h('input.input.input-light', { maxlength: '64', autocomplete: 'off', 'data-testid': 'acc-name' });
    const user = userSelect('');
    const password = h('input.input.input-light', { type: 'password', autocomplete: 'new-password', placeholder: 'Leave empty to generate one', 'data-testid': 'acc-pass' });
    const media = mediaSelect('acc-media', 'none');
    const err = h('p.form-error', { role: 'alert', hidden: true, 'data-testid': 'acc-form-error' });
    const save = h('button.btn.btn-primary', { type: 'submit', text: 'Add', 'data-testid': 'acc-save' });
    const form = h('form.tel-form', null, field('Extension (username)', username), field('Display name', name), field('Person', user),
      field('Password', password, 'At least 8 characters.'),
      field('Media encryption', media, 'On calls to this phone; SRTP refuses phones that answer without it. Use SIP over TLS too.'),
      h('div.tel-form-wide', null, err));
    const dlg = openDialog({ title: 'Add a SIP account', testid: 'acc-dialog', wide: true, body: [form], foot: [save] });
    const submit = async (ev) => {
      ev?.preventDefault();
      const body = { username: username.value.trim(), displayName: name.value.trim(), userId: user.value, mediaEncryption: media.value };
      if (password.value) body.password = password.value;
      await saving(save, err, async () => {
        const out = await api('/api/v1/sip/accounts', { method: 'POST', body });
        dlg.close();
        if (out.password) showPassword('SIP account added', out.username, out.password);
        else toast(`${out.username} added`);
        loadAccounts();
      });
    };
    onSubmit(form, save, submit);
    username.focus();
  }

  // ------------------------------------------------------------------ trunks (contract B)
  const { error: trError, body: trBody } = listPanel(panels.trunks, {
    id: 'trunk', title: 'Trunks', add: 'Add a trunk', onAdd: () => trunkForm(null),
    hint: 'Your providers: calls to phone numbers go out through them, and calls to your numbers come in.',
    columns: [th('Name'), th('Host'), th('Registration'), th('Prefixes'), th('Calls', 'num'), th('State'), th('Actions')] });
  let trunkList = [];

  async function loadTrunks() {
    try {
      const data = await api('/api/v1/sip/trunks');
      if (destroyed) return;
      trError.hidden = true;
      trunkList = data.trunks || [];
      trBody.replaceChildren(...trunkList.map(trunkRow));
      if (!trunkList.length) trBody.appendChild(h('tr', null, h('td.muted.tel-empty', { colspan: '7', text: 'No trunks yet.' })));
    } catch (err) {
      showError(trError, err);
    }
  }

  function trunkRow(t) {
    const st = t.status || {};
    const reg = !t.register ? h('span.muted', { text: 'IP peer' })
      : st.registered ? h('span.tel-ok', { text: 'Registered' })
        : h('span.tel-bad', { text: st.lastError ? `Not registered: ${st.lastError}` : 'Not registered' });
    const act = (text, testid, fn) => h('button.btn.btn-text.btn-sm', { type: 'button', text, 'data-testid': testid, onclick: fn });
    return h('tr', { 'data-testid': 'trunk-row', 'data-trunk': t.id },
      h('th', { scope: 'row', text: t.name }),
      h('td', { text: `${t.host} (${(t.transport || 'udp').toUpperCase()})` }),
      h('td', { 'data-testid': 'trunk-status' }, reg),
      h('td', { text: (t.outboundPrefixes || []).join(', ') || 'Default' }),
      h('td.num', { text: `${st.activeCalls || 0}${t.maxCalls ? ` / ${t.maxCalls}` : ''}` }),
      h('td', null, t.enabled ? h('span.tel-ok', { text: 'Enabled' }) : h('span.tel-bad', { text: 'Disabled' })),
      h('td', null, h('span.tel-actions', null,
        act('Edit', 'trunk-edit', () => trunkForm(t)),
        act('Delete', 'trunk-delete', () => confirmDelete(`the trunk ${t.name}`, `/api/v1/sip/trunks/${encodeURIComponent(t.id)}`, loadTrunks)))));
  }

  const splitList = (s) => s.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);

  function trunkForm(t) {
    const input = (testid, value, extra = {}) => h('input.input.input-light', { autocomplete: 'off', 'data-testid': testid, value: value ?? '', ...extra });
    const name = input('trunk-name', t?.name, { required: true, maxlength: '80' });
    const host = input('trunk-host', t?.host, { required: true, placeholder: 'sip.example.net:5060' });
    const transport = h('select.select', { 'data-testid': 'trunk-transport' }, ['udp', 'tcp', 'tls'].map((x) => h('option', { value: x, text: x.toUpperCase(), selected: (t?.transport || 'udp') === x })));
    const register = h('input', { type: 'checkbox', 'data-testid': 'trunk-register', 'prop:checked': t ? !!t.register : true });
    const enabled = h('input', { type: 'checkbox', 'data-testid': 'trunk-enabled', 'prop:checked': t ? !!t.enabled : true });
    const username = input('trunk-username', t?.username);
    const authUsername = input('trunk-auth-username', t?.authUsername);
    const password = input('trunk-password', '', { type: 'password', autocomplete: 'new-password', placeholder: t?.hasPassword ? 'Unchanged' : '' });
    const fromDomain = input('trunk-from-domain', t?.fromDomain);
    const inboundIPs = input('trunk-inbound-ips', (t?.inboundIPs || []).join(', '), { placeholder: '203.0.113.0/24' });
    const prefixes = input('trunk-prefixes', (t?.outboundPrefixes || []).join(', '), { placeholder: '+1, +44 (empty: the default trunk)' });
    const format = h('select.select', { 'data-testid': 'trunk-format' }, [['e164', 'E.164 (+15551234567)'], ['national', 'National'], ['digits', 'Digits only']]
      .map(([v, l]) => h('option', { value: v, text: l, selected: (t?.numberFormat || 'e164') === v })));
    const maxCalls = input('trunk-max-calls', String(t?.maxCalls ?? 0), { type: 'number', min: '0', step: '1' });
    const media = mediaSelect('trunk-media', t?.mediaEncryption);
    const err = h('p.form-error', { role: 'alert', hidden: true, 'data-testid': 'trunk-form-error' });
    const save = h('button.btn.btn-primary', { type: 'submit', text: t ? 'Save' : 'Add', 'data-testid': 'trunk-save' });
    const form = h('form.tel-form', null,
      field('Name', name), field('Host', host), field('Transport', transport),
      h('label.tel-check', null, register, h('span', { text: 'Register with the provider' })),
      h('label.tel-check', null, enabled, h('span', { text: 'Enabled' })),
      field('Username', username), field('Authentication username', authUsername, 'When the provider wants another one'),
      field('Password', password), field('From domain', fromDomain),
      field('Inbound addresses', inboundIPs, 'IP-authenticated peers: addresses or CIDR ranges, comma-separated'),
      field('Outbound prefixes', prefixes, 'E.164 prefixes routed out this trunk'),
      field('Number format', format), field('Most concurrent calls', maxCalls, '0: no limit'),
      field('Media encryption', media, 'On calls out; SRTP refuses answers without it. Use TLS with it.'),
      h('div.tel-form-wide', null, err));
    const dlg = openDialog({ title: t ? `Edit ${t.name}` : 'Add a trunk', testid: 'trunk-dialog', wide: true, body: [form], foot: [save] });
    const submit = async (ev) => {
      ev?.preventDefault();
      const n = Number(maxCalls.value);
      if (!Number.isInteger(n) || n < 0) {
        err.textContent = 'Most concurrent calls must be a whole number, 0 for no limit.';
        err.hidden = false;
        return;
      }
      const body = {
        name: name.value.trim(), host: host.value.trim(), transport: transport.value, register: register.checked, enabled: enabled.checked,
        username: username.value.trim(), authUsername: authUsername.value.trim(), fromDomain: fromDomain.value.trim(),
        inboundIPs: splitList(inboundIPs.value), outboundPrefixes: splitList(prefixes.value), numberFormat: format.value, maxCalls: n,
        mediaEncryption: media.value,
      };
      if (password.value) body.password = password.value;
      await saving(save, err, async () => {
        if (t) await api(`/api/v1/sip/trunks/${encodeURIComponent(t.id)}`, { method: 'PATCH', body });
        else await api('/api/v1/sip/trunks', { method: 'POST', body });
        dlg.close();
        toast(t ? `${body.name} saved` : `${body.name} added`);
        loadTrunks();
      });
    };
    onSubmit(form, save, submit);
    name.focus();
  }

  // ------------------------------------------------------------------ numbers (contract B)
  const { error: nuError, body: nuBody } = listPanel(panels.numbers, {
    id: 'number', title: 'Numbers', add: 'Add a number', onAdd: () => numberForm(null),
    hint: 'Where calls to your numbers go: a person, an extension, a meeting (callers enter its PIN) or a queue.',
    columns: [th('Number'), th('Label'), th('Goes to'), th('Trunk'), th('Actions')] });
  const TARGET_KIND = { user: 'Person', extension: 'Extension', conference: 'Meeting', queue: 'Queue' };

  async function loadNumbers() {
    try {
      const [data, trunks] = await Promise.all([api('/api/v1/sip/numbers'), trunkList.length ? { trunks: trunkList } : api('/api/v1/sip/trunks').catch(() => ({ trunks: [] }))]);
      if (destroyed) return;
      trunkList = trunks.trunks || [];
      nuError.hidden = true;
      const list = data.numbers || [];
      nuBody.replaceChildren(...list.map(numberRow));
      if (!list.length) nuBody.appendChild(h('tr', null, h('td.muted.tel-empty', { colspan: '5', text: 'No numbers yet.' })));
    } catch (err) {
      showError(nuError, err);
    }
  }

  function numberRow(n) {
    const tr = trunkList.find((t) => t.id === n.trunk);
    const target = n.target || {};
    const act = (text, testid, fn) => h('button.btn.btn-text.btn-sm', { type: 'button', text, 'data-testid': testid, onclick: fn });
    return h('tr', { 'data-testid': 'number-row', 'data-number': n.number },
      h('th', { scope: 'row', text: n.number }),
      h('td', { text: n.label || '–' }),
      h('td', { text: `${TARGET_KIND[target.kind] || target.kind || '?'}: ${target.kind === 'user' ? personByUsername(target.value) : target.value || ''}` }),
      h('td', { text: n.trunk ? (tr ? tr.name : n.trunk) : 'Any' }),
      h('td', null, h('span.tel-actions', null,
        act('Edit', 'number-edit', () => numberForm(n)),
        act('Delete', 'number-delete', () => confirmDelete(`the number ${n.number}`, `/api/v1/sip/numbers/${encodeURIComponent(n.number)}`, loadNumbers)))));
  }

  function numberForm(n) {
    const number = h('input.input.input-light', { type: 'tel', required: true, placeholder: '+15551234567', value: n?.number || '', disabled: !!n, 'data-testid': 'number-number' });
    const label = h('input.input.input-light', { maxlength: '80', value: n?.label || '', 'data-testid': 'number-label' });
    const kind = h('select.select', { 'data-testid': 'number-kind' }, Object.entries(TARGET_KIND).map(([v, l]) => h('option', { value: v, text: l, selected: (n?.target?.kind || 'user') === v })));
    const value = h('input.input.input-light', { required: true, value: n?.target?.value || '', placeholder: 'alice, 101, a meeting or queue id', 'data-testid': 'number-target' });
    const trunk = h('select.select', { 'data-testid': 'number-trunk' }, h('option', { value: '', text: 'Any trunk' }),
      trunkList.map((t) => h('option', { value: t.id, text: t.name, selected: n?.trunk === t.id })));
    const err = h('p.form-error', { role: 'alert', hidden: true, 'data-testid': 'number-form-error' });
    const save = h('button.btn.btn-primary', { type: 'submit', text: n ? 'Save' : 'Add', 'data-testid': 'number-save' });
    const form = h('form.tel-form', null, field('Number', number, 'E.164, with the country code'), field('Label', label),
      field('Goes to', kind), field('Who or what', value, 'A username, an extension, a meeting id or a queue id'), field('Only calls from', trunk),
      h('div.tel-form-wide', null, err));
    const dlg = openDialog({ title: n ? `Edit ${n.number}` : 'Add a number', testid: 'number-dialog', wide: true, body: [form], foot: [save] });
    const submit = async (ev) => {
      ev?.preventDefault();
      // People are named by username (the server checks it exists).
      const target = kind.value === 'user' ? value.value.trim().toLowerCase() : value.value.trim();
      const body = { label: label.value.trim(), trunk: trunk.value, target: { kind: kind.value, value: target } };
      if (!n) body.number = number.value.replace(/[\s().-]/g, '');
      await saving(save, err, async () => {
        if (n) await api(`/api/v1/sip/numbers/${encodeURIComponent(n.number)}`, { method: 'PATCH', body });
        else await api('/api/v1/sip/numbers', { method: 'POST', body });
        dlg.close();
        toast(n ? `${n.number} saved` : `${body.number} added`);
        loadNumbers();
      });
    };
    onSubmit(form, save, submit);
    (n ? label : number).focus();
  }

  // ------------------------------------------------------------------ shared
  /**
   * A tab's card: title, add button, hint, error line and a table; returns the error line and the body.
   * @param {HTMLElement} panel
   * @param {{id: string, title: string, add: string, onAdd: () => void, hint: string, columns: HTMLElement[]}} o
   */
  function listPanel(panel, o) {
    const error = h('p.form-error', { role: 'alert', hidden: true, 'data-testid': `${o.id}-error` });
    const body = h('tbody', { 'data-testid': `${o.id}-rows` });
    const add = h('button.btn.btn-primary.btn-sm', { type: 'button', 'data-testid': `${o.id}-add` }, icon('add', { size: 18 }), h('span', { text: o.add }));
    add.addEventListener('click', o.onAdd);
    panel.append(h('div.cc-card', null,
      h('div.cc-section-head.ph-history-head', null, h('h2.cc-card-title', { text: o.title }), add),
      h('p.muted.small', { text: o.hint }),
      error,
      h('div.cc-table-wrap', null, h('table.cc-table', { 'aria-label': o.title }, h('thead', null, h('tr', null, o.columns)), body))));
    return { error, body };
  }

  /** A form's save: the button disabled meanwhile, the server's refusal shown in err. */
  async function saving(save, err, work) {
    save.disabled = true;
    try {
      await work();
    } catch (e) {
      err.textContent = e.message;
      err.hidden = false;
    } finally {
      save.disabled = false;
    }
  }

  /** Enter in the form and the dialog's save button both submit. */
  function onSubmit(form, save, submit) {
    form.addEventListener('submit', submit);
    save.addEventListener('click', submit);
  }

  function showError(el, err) {
    if (destroyed) return;
    el.textContent = err.status === 404 && /no such API endpoint/.test(err.message) ? 'This server does not offer this yet: its trunks and numbers API is missing.' : err.message;
    el.hidden = false;
  }

  function confirmDelete(what, path, reload) {
    const go = h('button.btn.btn-primary', { type: 'button', text: 'Delete', 'data-testid': 'confirm-delete' });
    const cancel = h('button.btn', { type: 'button', text: 'Cancel' });
    const dlg = openDialog({ title: 'Delete?', testid: 'confirm-dialog', body: [h('p', { text: `Delete ${what}? This cannot be undone.` })], foot: [cancel, go] });
    cancel.addEventListener('click', () => dlg.close());
    go.addEventListener('click', async () => {
      go.disabled = true;
      try {
        await api(path, { method: 'DELETE' });
        dlg.close();
        toast('Deleted');
        reload();
      } catch (err) {
        dlg.close();
        toast(err.message, { kind: 'error' });
      }
    });
    cancel.focus();
  }

  const first = TABS.some(([k]) => `#${k}` === location.hash) ? location.hash.slice(1) : 'records';
  select(first, false);

  return {
    destroy() {
      destroyed = true;
      for (const c of charts) c.destroy();
    },
  };
}

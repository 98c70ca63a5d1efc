// The supervisor dashboard (/supervisor, admins): live queues and agents, polled every 2 s
// (GET /api/v1/contact/live), and reports over a period (GET /api/v1/contact/stats) drawn as
// charts (charts.js), with the totals as figures and a CSV download of the same query.
// The contract: /work/shared/contact/api.md, "Supervisor".
import { h, icon, toast } from './ui.js';
import { api } from './session.js';
import { barChart, lineChart } from './charts.js';
import { pageFrame, notAllowed, STATE_LABEL, waitText, secondsSince, percent } from './contact-ui.js';

const POLL_MS = 2000;
const STATE_ORDER = ['available', 'busy', 'paused', 'wrap_up', 'offline'];

/** yyyy-mm-dd of a local date. */
function isoDay(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

/**
 * @param {HTMLElement} root
 * @param {{client: any, navigate: (path: string) => void}} app
 */
export function renderSupervisor(root, app) {
  const role = app.client.me?.role || '';
  if (role !== 'admin') {
    notAllowed(root, { title: 'Supervisor dashboard', text: 'Only admins can see the supervisor dashboard.', navigate: app.navigate });
    return null;
  }
  document.title = 'Supervisor · Switchboard';
  const updated = h('span.cc-updated.muted.small', { 'data-testid': 'live-updated', role: 'status' });
  const frame = pageFrame({ title: 'Supervisor', page: 'supervisor', role, navigate: app.navigate, controls: [updated] });
  root.appendChild(frame.el);
  let destroyed = false;

  // ------------------------------------------------------------------ live
  const liveError = h('p.form-error', { role: 'alert', 'data-testid': 'live-error', hidden: true });
  const queueBody = h('tbody', { 'data-testid': 'live-queues' });
  const agentBody = h('tbody', { 'data-testid': 'live-agents' });
  const th = (text, cls) => h(`th${cls ? `.${cls}` : ''}`, { scope: 'col', text });
  const queueTable = h('table.cc-table', { 'aria-labelledby': 'sv-queues-title' },
    h('thead', null, h('tr', null, th('Queue'), th('Waiting', 'num'), th('Ringing', 'num'), th('In progress', 'num'), th('Longest wait', 'num'), th('Agents'))),
    queueBody);
  const agentTable = h('table.cc-table', { 'aria-labelledby': 'sv-agents-title' },
    h('thead', null, h('tr', null, th('Agent'), th('State'), th('Chats', 'num'), th('Calls', 'num'), th('Since', 'num'))),
    agentBody);
  const live = h('section.cc-section', { 'aria-labelledby': 'sv-live-title' },
    h('div.cc-section-head', null, h('h2', { id: 'sv-live-title', text: 'Now' })),
    liveError,
    h('div.cc-grid-2', null,
      h('div.cc-card', null, h('h3.cc-card-title', { id: 'sv-queues-title', text: 'Queues' }), h('div.cc-table-wrap', null, queueTable)),
      h('div.cc-card', null, h('h3.cc-card-title', { id: 'sv-agents-title', text: 'Agents' }), h('div.cc-table-wrap', null, agentTable))));

  function stateBadge(state) {
    return h(`span.cc-state.cc-state-${state}`, { 'data-state': state, text: STATE_LABEL[state] || state });
  }

  function renderLive(data) {
    const now = Date.now();
    const queues = data.queues || [];
    queueBody.replaceChildren();
    if (!queues.length) queueBody.appendChild(h('tr', null, h('td.muted', { colspan: '6', text: 'No queues yet.' })));
    for (const q of queues) {
      const agents = q.agents || {};
      const chips = STATE_ORDER.filter((s) => agents[s]).map((s) => h(`span.cc-chip.cc-state-${s}`, { 'data-state': s, text: `${agents[s]} ${(STATE_LABEL[s] || s).toLowerCase()}` }));
      queueBody.appendChild(h('tr', { 'data-testid': 'live-queue', 'data-queue': q.id },
        h('th', { scope: 'row' }, h('span', { text: q.name || q.id }),
          q.open === false ? h('span.cc-chip.cc-closed', { 'data-testid': 'queue-closed', text: 'Closed' }) : null,
          q.callbacks ? h('span.cc-chip', { 'data-testid': 'queue-callbacks', text: `${q.callbacks} callback${q.callbacks === 1 ? '' : 's'}` }) : null),
        h(`td.num${q.waiting ? '.cc-hot' : ''}`, { 'data-testid': 'queue-waiting', text: String(q.waiting || 0) }),
        h('td.num', { 'data-testid': 'queue-offered', text: String(q.offered || 0) }),
        h('td.num', { 'data-testid': 'queue-in-progress', text: String(q.inProgress || 0) }),
        h('td.num', { 'data-testid': 'queue-longest', text: q.waiting ? waitText(q.longestWaitSeconds) : '–' }),
        h('td', null, chips.length ? h('span.cc-chips', null, chips) : h('span.muted', { text: 'No agents' }))));
    }
    const agents = (data.agents || []).slice().sort((a, b) => STATE_ORDER.indexOf(a.state) - STATE_ORDER.indexOf(b.state) || (a.name || '').localeCompare(b.name || ''));
    agentBody.replaceChildren();
    if (!agents.length) agentBody.appendChild(h('tr', null, h('td.muted', { colspan: '5', text: 'No agents yet. Give people the agent role and add them to a queue.' })));
    for (const a of agents) {
      agentBody.appendChild(h('tr', { 'data-testid': 'live-agent', 'data-user': a.user, 'data-state': a.state },
        h('th', { scope: 'row', text: a.name || a.user }),
        h('td', null, stateBadge(a.state)),
        h('td.num', { text: String(a.chats || 0) }),
        h('td.num', { text: String(a.calls || 0) }),
        h('td.num', { title: a.since ? new Date(a.since).toLocaleString() : '', text: a.since ? waitText(secondsSince(a.since, now)) : '–' })));
    }
    const at = data.at ? new Date(data.at) : new Date();
    updated.textContent = `Live · updated ${at.toLocaleTimeString()}`;
  }

  let timer = 0;
  let polling = false;
  async function poll() {
    if (destroyed || polling) return;
    polling = true;
    try {
      const data = await api('/api/v1/contact/live');
      if (destroyed) return;
      liveError.hidden = true;
      renderLive(data);
    } catch (err) {
      if (destroyed) return;
      liveError.textContent = err.status === 403 ? 'Only admins can see the live queues.' : `Could not load the live view: ${err.message}`;
      liveError.hidden = false;
      updated.textContent = 'Live view paused';
    } finally {
      polling = false;
    }
    schedule();
  }
  function schedule() {
    clearTimeout(timer);
    // A hidden tab does not poll; it catches up when shown again.
    if (!destroyed && document.visibilityState === 'visible') timer = setTimeout(poll, POLL_MS);
  }
  const onVisible = () => { if (document.visibilityState === 'visible') poll(); else clearTimeout(timer); };
  document.addEventListener('visibilitychange', onVisible);

  // ------------------------------------------------------------------ reports
  const today = new Date();
  const weekAgo = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 6);
  const fromInput = h('input.input', { type: 'date', id: 'sv-from', 'data-testid': 'report-from', value: isoDay(weekAgo), required: true });
  const toInput = h('input.input', { type: 'date', id: 'sv-to', 'data-testid': 'report-to', value: isoDay(today), required: true });
  const bucketSelect = h('select.select', { id: 'sv-bucket', 'data-testid': 'report-bucket' },
    h('option', { value: 'day', text: 'Day' }), h('option', { value: 'hour', text: 'Hour' }));
  const queueSelect = h('select.select', { id: 'sv-queue', 'data-testid': 'report-queue' }, h('option', { value: '', text: 'All queues' }));
  const runBtn = h('button.btn.btn-primary', { type: 'submit', 'data-testid': 'report-run' }, h('span', { text: 'Show' }));
  const csvLink = h('a.btn.btn-outline', { 'data-testid': 'report-csv', download: '' }, icon('download', { size: 18 }), h('span', { text: 'Download CSV' }));
  const field = (id, label, input) => h('div.field', null, h('label.field-label', { for: id, text: label }), input);
  const form = h('form.cc-report-form', { 'aria-label': 'Report period' },
    field('sv-from', 'From', fromInput), field('sv-to', 'To (included)', toInput),
    field('sv-bucket', 'Per', bucketSelect), field('sv-queue', 'Queue', queueSelect),
    h('div.cc-report-actions', null, runBtn, csvLink));
  const reportError = h('p.form-error', { role: 'alert', 'data-testid': 'report-error', hidden: true });
  const reportStatus = h('p.muted.small', { role: 'status', 'data-testid': 'report-status' });
  const totals = h('div.cc-figures', { 'data-testid': 'report-totals' });

  const count = (v) => (v === null || v === undefined ? '–' : String(Math.round(v)));
  const charts = {
    volume: barChart({ title: 'Volume', testid: 'chart-volume', integer: true, format: count, categories: [], series: [], description: 'Contacts that arrived, were answered and were abandoned.' }),
    rates: lineChart({ title: 'Answer and abandon rate', testid: 'chart-rates', max: 1, format: percent, categories: [], series: [] }),
    service: lineChart({ title: 'Service level', testid: 'chart-service', max: 1, format: percent, categories: [], series: [], description: 'The share of contacts answered within the queue\'s service level target.' }),
    times: barChart({ title: 'Average wait and handle time', testid: 'chart-times', format: waitText, duration: true, categories: [], series: [] }),
  };
  const chartGrid = h('div.cc-charts', { 'data-testid': 'report-charts' }, Object.values(charts).map((c) => h('div.cc-card.cc-chart-card', null, c.el)));

  const reports = h('section.cc-section', { 'aria-labelledby': 'sv-reports-title' },
    h('div.cc-section-head', null, h('h2', { id: 'sv-reports-title', text: 'Reports' })),
    h('div.cc-card', null, form, reportError, reportStatus),
    totals, chartGrid);

  frame.main.append(live, reports);

  /** The day after a yyyy-mm-dd: the API's `to` is exclusive, the form's "To" is included. */
  function dayAfter(v) {
    const [y, m, d] = v.split('-').map(Number);
    return isoDay(new Date(y, m - 1, d + 1));
  }
  // Days and hours are the viewer's, in their time zone.
  const tz = (() => { try { return Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch { return ''; } })();

  function query(csv = false) {
    const p = new URLSearchParams({ from: fromInput.value, to: toInput.value ? dayAfter(toInput.value) : '', bucket: bucketSelect.value });
    if (tz) p.set('tz', tz);
    if (queueSelect.value) p.set('queue', queueSelect.value);
    if (csv) p.set('format', 'csv');
    return `/api/v1/contact/stats?${p}`;
  }
  const syncCsv = () => {
    csvLink.href = query(true);
    csvLink.setAttribute('download', `contacts-${fromInput.value}-${toInput.value}${queueSelect.value ? `-${queueSelect.value}` : ''}.csv`);
  };
  for (const x of [fromInput, toInput, bucketSelect, queueSelect]) x.addEventListener('change', syncCsv);

  /**
   * The label of a bucket on the x axis, and the longer one for tooltips and the table. A bucket is
   * named by the day and hour written in its start time, in the server's time zone (the offset
   * the time carries), not converted to the browser's: a day is the business's day.
   */
  function labels(buckets, bucket) {
    const parts = buckets.map((b) => {
      const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}))?/.exec(b.start || '');
      return m ? new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4] || 0), Number(m[5] || 0)) : new Date(b.start);
    });
    const days = new Set(parts.map((d) => d.toDateString())).size;
    const short = parts.map((d) => {
      if (bucket === 'day') return d.toLocaleDateString([], { day: 'numeric', month: 'short' });
      return days > 1 && d.getHours() === 0 ? d.toLocaleDateString([], { day: 'numeric', month: 'short' })
        : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    });
    const full = parts.map((d) => (bucket === 'day'
      ? d.toLocaleDateString([], { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' })
      : d.toLocaleString([], { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' })));
    return { short, full };
  }

  function figure(label, value, testid, hint) {
    return h('div.cc-figure', { 'data-testid': testid, title: hint || null },
      h('span.cc-figure-value', { text: value }), h('span.cc-figure-label', { text: label }));
  }

  function renderReport(data) {
    const buckets = data.buckets || [];
    const t = data.totals || {};
    totals.replaceChildren(
      figure('Arrived', count(t.arrived), 'total-arrived'),
      figure('Answered', count(t.answered), 'total-answered'),
      figure('Abandoned', count(t.abandoned), 'total-abandoned'),
      figure('Answer rate', t.arrived ? percent(t.answerRate) : '–', 'total-answer-rate'),
      figure('Abandon rate', t.arrived ? percent(t.abandonRate) : '–', 'total-abandon-rate'),
      figure('Avg. wait', t.answered ? waitText(t.avgWaitSeconds) : '–', 'total-avg-wait', 'Of the answered contacts: from arrival to answer'),
      figure('Avg. handle time', t.answered ? waitText(t.avgHandleSeconds) : '–', 'total-avg-handle', 'Of the answered and ended contacts: from answer to end'),
      figure('Service level', t.arrived ? percent(t.serviceLevel) : '–', 'total-service-level', 'Answered within the target wait of the queue'));
    const { short, full } = labels(buckets, data.bucket || bucketSelect.value);
    // An empty period has no rate: no point, rather than a misleading 0 %.
    const rate = (b, k) => (b.arrived ? b[k] ?? null : null);
    const common = { categories: short, fullCategories: full };
    charts.volume.update({ ...common, series: [
      { key: 'arrived', name: 'Arrived', values: buckets.map((b) => b.arrived || 0) },
      { key: 'answered', name: 'Answered', values: buckets.map((b) => b.answered || 0) },
      { key: 'abandoned', name: 'Abandoned', values: buckets.map((b) => b.abandoned || 0) },
    ] });
    charts.rates.update({ ...common, series: [
      { key: 'answerRate', name: 'Answer rate', values: buckets.map((b) => rate(b, 'answerRate')), color: '#81c995' },
      { key: 'abandonRate', name: 'Abandon rate', values: buckets.map((b) => rate(b, 'abandonRate')), color: '#f28b82' },
    ] });
    charts.service.update({ ...common, series: [
      { key: 'serviceLevel', name: 'Service level', values: buckets.map((b) => rate(b, 'serviceLevel')), color: '#fdd663' },
    ] });
    charts.times.update({ ...common, series: [
      { key: 'avgWait', name: 'Average wait', values: buckets.map((b) => (b.answered ? b.avgWaitSeconds ?? null : null)) },
      { key: 'avgHandle', name: 'Average handle time', values: buckets.map((b) => (b.answered ? b.avgHandleSeconds ?? null : null)), color: '#c58af9' },
    ] });
    const n = t.arrived || 0;
    reportStatus.textContent = `${n} contact${n === 1 ? '' : 's'} from ${fromInput.value} to ${toInput.value}${queueSelect.value ? ` in ${queueSelect.selectedOptions[0]?.textContent || queueSelect.value}` : ''}, per ${bucketSelect.value}.`;
  }

  let reportSeq = 0;
  async function runReport() {
    if (fromInput.value && toInput.value && fromInput.value > toInput.value) {
      reportError.textContent = 'The start of the period is after its end.';
      reportError.hidden = false;
      fromInput.focus();
      return;
    }
    const seq = ++reportSeq;
    reportError.hidden = true;
    runBtn.disabled = true;
    reportStatus.textContent = 'Loading…';
    syncCsv();
    try {
      const data = await api(query());
      if (destroyed || seq !== reportSeq) return;
      renderReport(data);
      chartGrid.dataset.loaded = String(seq);
    } catch (err) {
      if (destroyed || seq !== reportSeq) return;
      reportStatus.textContent = '';
      reportError.textContent = `Could not load the report: ${err.message}`;
      reportError.hidden = false;
    } finally {
      if (seq === reportSeq) runBtn.disabled = false;
    }
  }
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    runReport();
  });

  async function loadQueues() {
    try {
      const { queues = [] } = await api('/api/v1/contact/queues');
      if (destroyed) return;
      const keep = queueSelect.value;
      queueSelect.replaceChildren(h('option', { value: '', text: 'All queues' }),
        ...queues.map((q) => h('option', { value: q.id, text: q.name || q.id, 'prop:selected': q.id === keep })));
    } catch (err) {
      if (!destroyed && err.status !== 403) toast(`Could not list the queues: ${err.message}`, { kind: 'error' });
    }
  }

  syncCsv();
  poll();
  loadQueues();
  runReport();
  frame.main.focus({ preventScroll: true });

  return {
    destroy() {
      destroyed = true;
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisible);
      for (const c of Object.values(charts)) c.destroy();
    },
  };
}

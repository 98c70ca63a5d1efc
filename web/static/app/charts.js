// Charts drawn in the browser as SVG, with no library: grouped bar charts and line charts with
// axes, "nice" ticks, a legend, a title on every bar and point (a tooltip on hover and for
// assistive technology), a hover tooltip, and the same numbers as a table for screen readers.
// Everything is built with the DOM (createElementNS, textContent): labels may come from users.
//
//   const c = barChart({ title: 'Volume', categories: ['1 Dec', '2 Dec'], series: [{ key: 'arrived', name: 'Arrived', values: [3, 5] }] });
//   parent.appendChild(c.el);   // draws at the width of its container, again when that changes
//   c.update({ categories, series });
//   c.destroy();
import { h } from './ui.js';

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Colours of the series, in order (readable on the dark theme, distinguishable in greyscale by order). */
export const PALETTE = ['#8ab4f8', '#81c995', '#f28b82', '#fdd663', '#c58af9', '#78d9ec', '#fcad70'];

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') el.textContent = String(v);
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c) el.appendChild(c);
  return el;
}

/**
 * Ticks for an axis from 0 (or min) to max: about `count` round steps (1, 2, 2.5, 5 × 10^n).
 * @returns {{max: number, step: number, ticks: number[]}}
 */
export function niceTicks(min, max, count = 5) {
  if (!Number.isFinite(max) || max <= min) max = min + 1;
  const raw = (max - min) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const mult = norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10;
  const step = mult * mag;
  const lo = Math.floor(min / step) * step;
  const hi = Math.ceil(max / step) * step;
  const ticks = [];
  for (let v = lo; v <= hi + step / 2; v += step) ticks.push(Number(v.toPrecision(12)));
  return { min: lo, max: hi, step, ticks };
}

const DURATION_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

/** Ticks for seconds: steps people count in (10 s, 30 s, 1 min, 5 min, 15 min, 1 h…). */
export function durationTicks(max, count = 5) {
  if (!Number.isFinite(max) || max <= 0) max = 1;
  const step = DURATION_STEPS.find((s) => max / s <= count) || Math.ceil(max / count / 86400) * 86400;
  const hi = Math.ceil(max / step) * step;
  const ticks = [];
  for (let v = 0; v <= hi; v += step) ticks.push(v);
  return { min: 0, max: hi, step, ticks };
}

/** A duration on an axis: "30 s", "5 min", "1 h", "1:30 min". */
export function shortDuration(v) {
  const s = Math.round(v);
  if (s < 60) return `${s} s`;
  if (s % 3600 === 0) return `${s / 3600} h`;
  if (s % 60 === 0) return `${s / 60} min`;
  if (s < 3600) return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')} min`;
  return `${Math.floor(s / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} h`;
}

/** Integer-friendly ticks: a count never gets a 2.5 step. */
function ticksFor(max, { integer, fixedMax, duration }) {
  if (fixedMax) return niceTicks(0, fixedMax, 4);
  if (duration) return durationTicks(max, 4);
  let t = niceTicks(0, max, 4);
  if (integer && t.step < 1) t = niceTicks(0, Math.max(1, max), Math.max(1, Math.ceil(max)));
  if (integer && !Number.isInteger(t.step)) t = niceTicks(0, max, 3);
  return t;
}

const defaultFormat = (v) => (v === null || v === undefined || Number.isNaN(v) ? '–' : String(Math.round(v * 100) / 100));

/**
 * @typedef {Object} Series
 * @property {string} key     stable id (data-series)
 * @property {string} name    shown in the legend and the table
 * @property {(number|null)[]} values  one per category; null: no value (no point drawn)
 * @property {string} [color]
 *
 * @typedef {Object} ChartOptions
 * @property {string} title
 * @property {string} [description]  what the chart shows, for screen readers
 * @property {string[]} categories   x labels
 * @property {string[]} [fullCategories]  longer x labels for tooltips and the table
 * @property {Series[]} series
 * @property {(v: number) => string} [format]  values in tooltips, the table and the y axis
 * @property {(v: number) => string} [axisFormat]
 * @property {boolean} [integer]   counts: whole-number ticks
 * @property {boolean} [duration]  seconds: ticks at 30 s, 1 min, 5 min… (labels with shortDuration unless axisFormat)
 * @property {number} [max]        a fixed top of the y axis (1 for rates)
 * @property {number} [height]
 * @property {string} [testid]
 */

/** @param {ChartOptions} o */
export function barChart(o) { return chart('bar', o); }
/** @param {ChartOptions} o */
export function lineChart(o) { return chart('line', o); }

function chart(kind, opts) {
  let o = { height: 240, format: defaultFormat, ...opts };
  const titleId = `chart-${Math.random().toString(36).slice(2)}`;
  const descId = `${titleId}-d`;
  const plot = h('div.chart-plot');
  const tip = h('div.chart-tip', { 'aria-hidden': 'true', hidden: true });
  const legend = h('ul.chart-legend', { 'aria-hidden': 'true' });
  const table = h('table.visually-hidden', { 'data-testid': 'chart-table' });
  const caption = h('figcaption.chart-title', { id: titleId, text: o.title });
  const desc = h('p.visually-hidden', { id: descId });
  const el = h('figure.chart', { 'data-testid': o.testid || null, 'data-kind': kind },
    caption, desc, legend, h('div.chart-area', null, plot, tip), table);
  let width = 0;

  function colors() { return o.series.map((s, i) => s.color || PALETTE[i % PALETTE.length]); }

  function renderLegend() {
    const cs = colors();
    legend.replaceChildren(...o.series.map((s, i) => h('li', { 'data-series': s.key },
      h('span.chart-swatch', { style: { background: cs[i] }, class: kind === 'line' ? 'chart-swatch-line' : null }),
      h('span', { text: s.name }))));
  }

  function renderTable() {
    const fmt = o.format;
    const cats = o.fullCategories || o.categories;
    table.replaceChildren(
      h('caption', { text: o.title }),
      h('thead', null, h('tr', null, h('th', { scope: 'col', text: 'Period' }), o.series.map((s) => h('th', { scope: 'col', text: s.name })))),
      h('tbody', null, cats.map((c, i) => h('tr', null, h('th', { scope: 'row', text: c }),
        o.series.map((s) => h('td', { text: fmt(s.values[i]) }))))));
    const n = o.categories.length;
    desc.textContent = `${o.description ? `${o.description} ` : ''}${kind === 'bar' ? 'Bar' : 'Line'} chart of ${o.series.map((s) => s.name).join(', ')} over ${n} period${n === 1 ? '' : 's'}. The numbers follow as a table.`;
  }

  function draw() {
    width = Math.max(200, Math.floor(plot.clientWidth || plot.getBoundingClientRect().width || 600));
    const height = o.height;
    const cats = o.categories;
    const n = cats.length;
    const all = o.series.flatMap((s) => s.values).filter((v) => v !== null && v !== undefined && Number.isFinite(v));
    const dataMax = all.length ? Math.max(...all) : 0;
    const t = ticksFor(dataMax, { integer: o.integer, fixedMax: o.max, duration: o.duration });
    const axisFmt = o.axisFormat || (o.duration ? shortDuration : o.format);
    // Left margin: as wide as the longest tick label (about 7 px a character at 12 px).
    const longest = Math.max(...t.ticks.map((v) => axisFmt(v).length));
    const m = { top: 12, right: 12, bottom: 30, left: Math.max(28, 10 + longest * 7) };
    const iw = Math.max(10, width - m.left - m.right);
    const ih = Math.max(10, height - m.top - m.bottom);
    const y = (v) => m.top + ih - (Math.min(v, t.max) / t.max) * ih;
    const band = n ? iw / n : iw;
    const xMid = (i) => m.left + band * i + band / 2;
    const cs = colors();

    const root = svg('svg', {
      width, height, viewBox: `0 0 ${width} ${height}`, class: 'chart-svg', role: 'img',
      'aria-labelledby': titleId, 'aria-describedby': descId,
    });
    // Grid and y axis.
    const grid = svg('g', { class: 'chart-grid' });
    const yAxis = svg('g', { class: 'chart-axis chart-y' });
    for (const v of t.ticks) {
      const yy = Math.round(y(v)) + 0.5;
      grid.appendChild(svg('line', { x1: m.left, x2: m.left + iw, y1: yy, y2: yy }));
      yAxis.appendChild(svg('text', { x: m.left - 6, y: yy, dy: '0.32em', 'text-anchor': 'end', text: axisFmt(v) }));
    }
    root.appendChild(grid);
    root.appendChild(yAxis);
    // x axis: as many labels as fit (about 64 px each).
    const xAxis = svg('g', { class: 'chart-axis chart-x' });
    xAxis.appendChild(svg('line', { class: 'chart-baseline', x1: m.left, x2: m.left + iw, y1: m.top + ih + 0.5, y2: m.top + ih + 0.5 }));
    // Steps that divide a day of hours (and a week of days) evenly keep the labels on round times.
    const need = Math.max(1, Math.ceil(n / Math.max(1, Math.floor(iw / 64))));
    const every = [1, 2, 3, 4, 6, 12, 24, 48, 72, 168].find((k) => k >= need) || need;
    for (let i = 0; i < n; i += every) {
      xAxis.appendChild(svg('text', { x: xMid(i), y: m.top + ih + 18, 'text-anchor': 'middle', text: cats[i] }));
    }
    root.appendChild(xAxis);

    const marks = svg('g', { class: 'chart-marks' });
    const full = o.fullCategories || cats;
    const label = (s, i) => `${full[i]}: ${s.name} ${o.format(s.values[i])}`;
    if (kind === 'bar') {
      const k = Math.max(1, o.series.length);
      const inner = Math.max(1, band * 0.8);
      const bw = Math.max(1, inner / k);
      o.series.forEach((s, si) => {
        const g = svg('g', { 'data-series': s.key, fill: cs[si] });
        for (let i = 0; i < n; i++) {
          const v = s.values[i];
          if (v === null || v === undefined || !Number.isFinite(v)) continue;
          const x = m.left + band * i + (band - inner) / 2 + bw * si;
          const top = y(v);
          const r = svg('rect', {
            class: 'chart-bar', x: x.toFixed(1), y: top.toFixed(1), width: Math.max(1, bw - (bw > 4 ? 1 : 0)).toFixed(1),
            height: Math.max(v > 0 ? 1 : 0, m.top + ih - top).toFixed(1), 'data-index': i, 'data-value': v,
          }, svg('title', { text: label(s, i) }));
          r.addEventListener('pointerenter', (ev) => showTip(ev, label(s, i)));
          r.addEventListener('pointerleave', hideTip);
          g.appendChild(r);
        }
        marks.appendChild(g);
      });
    } else {
      o.series.forEach((s, si) => {
        const g = svg('g', { 'data-series': s.key });
        let d = '';
        let pen = false;
        for (let i = 0; i < n; i++) {
          const v = s.values[i];
          if (v === null || v === undefined || !Number.isFinite(v)) { pen = false; continue; }
          d += `${pen ? 'L' : 'M'}${xMid(i).toFixed(1)} ${y(v).toFixed(1)}`;
          pen = true;
        }
        g.appendChild(svg('path', { class: 'chart-line', d, stroke: cs[si] }));
        for (let i = 0; i < n; i++) {
          const v = s.values[i];
          if (v === null || v === undefined || !Number.isFinite(v)) continue;
          const c = svg('circle', {
            class: 'chart-point', cx: xMid(i).toFixed(1), cy: y(v).toFixed(1), r: n > 60 ? 2 : 3.5,
            fill: cs[si], 'data-index': i, 'data-value': v,
          }, svg('title', { text: label(s, i) }));
          c.addEventListener('pointerenter', (ev) => showTip(ev, label(s, i)));
          c.addEventListener('pointerleave', hideTip);
          g.appendChild(c);
        }
        marks.appendChild(g);
      });
    }
    root.appendChild(marks);
    if (!n) {
      root.appendChild(svg('text', { class: 'chart-empty', x: m.left + iw / 2, y: m.top + ih / 2, 'text-anchor': 'middle', text: 'No data for this period' }));
    }
    plot.replaceChildren(root);
  }

  function showTip(ev, text) {
    const box = plot.getBoundingClientRect();
    const target = ev.currentTarget.getBoundingClientRect();
    tip.textContent = text;
    tip.hidden = false;
    const left = Math.min(Math.max(0, target.left - box.left + target.width / 2 - tip.offsetWidth / 2), Math.max(0, box.width - tip.offsetWidth));
    tip.style.left = `${left}px`;
    tip.style.top = `${Math.max(0, target.top - box.top - tip.offsetHeight - 6)}px`;
  }
  function hideTip() { tip.hidden = true; }

  // Redraw at the container's width; after a change of width only.
  let queued = false;
  const ro = new ResizeObserver(() => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      if (!el.isConnected) return;
      if (Math.floor(plot.clientWidth) !== width) draw();
    });
  });
  ro.observe(plot);

  function all() {
    renderLegend();
    renderTable();
    draw();
  }
  all();

  return {
    el,
    /** Replaces some options (usually categories and series) and redraws. */
    update(next) {
      o = { ...o, ...next };
      caption.textContent = o.title;
      all();
    },
    destroy() { ro.disconnect(); },
  };
}

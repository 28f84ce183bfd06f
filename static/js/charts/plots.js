// The uPlot charts: a slot's strategy chart, profit over time, the federated learning curve.

import { moneyTicks } from "../format.js";
import { COLORS, FACTORY_COLORS, FONT, axisBase, hline, mount, uPlot } from "./core.js";

// Whole ticks only on a tick axis: 1, 2, 5, 10, 20, 25, 50, 100, ...
const TICK_INCRS = [1, 2, 5].concat(
  ...Array.from({ length: 7 }, (_, i) => [10, 20, 25, 50].map((m) => m * 10 ** i)),
);

const quiet = { legend: { show: false }, cursor: { show: false }, select: { show: false } };

// The dash of a prediction's lower bound (prediction - margin), in the prediction's colour.
export const BOUND_DASH = [6, 3];
const PANEL = "#181d24"; // the slots' background (app.css --panel)
// The preventative threshold's dash-dot (the legend's swatch draws the same).
export const PREV_DASH = [9, 3, 2, 3];

// The slot's strategy chart: cycle count vs the preventative threshold, the local and federated
// predicted RUL vs the RUL threshold, and each prediction's lower bound (prediction - the model's
// calibration margin: what the calibrated decision compares with the threshold), dashed in the
// prediction's colour; null points (the raw decision) draw no lower bound. `thresholds()`
// returns the current {preventative, rul, emphasis} so the dotted lines follow the config and
// the chosen strategy. The preventative threshold is a cycle count, drawn dash-dot in its own
// colour (never like a prediction's line), each threshold labelled at its right end.
export function strategyChart(el, thresholds) {
  const drawThresholds = (u) => {
    const t = thresholds();
    const line = (value, color, strong, label, dash) => {
      const y = hline(u, value, color, {
        lineWidth: strong ? 1.6 : 1,
        dash,
        alpha: strong ? 1 : 0.7,
      });
      if (y == null || y < u.bbox.top + 6 * uPlot.pxRatio) return;
      const ctx = u.ctx;
      ctx.save();
      const px = uPlot.pxRatio;
      ctx.font = `${9 * px}px ${FONT.split("px ")[1]}`;
      ctx.textAlign = "right";
      ctx.textBaseline = "middle";
      const right = u.bbox.left + u.bbox.width - 3 * px;
      const w = ctx.measureText(label).width;
      ctx.fillStyle = PANEL; // a backing, so the dotted line never runs through the label
      ctx.fillRect(right - w - 3 * px, y - 6 * px, w + 6 * px, 12 * px);
      ctx.fillStyle = color;
      ctx.globalAlpha = strong ? 1 : 0.85;
      ctx.fillText(label, right, y);
      ctx.restore();
    };
    const prevLabel = `preventative at cycle ${t.preventative}`;
    const predictive = t.emphasis === "local" || t.emphasis === "federated";
    line(t.preventative, COLORS.prevThreshold, t.emphasis === "preventative", prevLabel, PREV_DASH);
    line(t.rul, COLORS.rul, predictive, `RUL ${t.rul}`, [2, 3]);
  };
  const opts = {
    ...quiet,
    padding: [6, 8, 0, 0],
    scales: {
      x: {
        time: false,
        range: (u, min, max) => [min == null ? 0 : Math.min(min, 1), Math.max(max ?? 0, 60)],
      },
      y: {
        range: (u, min, max) => {
          const t = thresholds();
          return [0, Math.max(max ?? 0, (t.preventative ?? 0) * 1.12, 60)];
        },
      },
    },
    axes: [
      { ...axisBase, size: 18, space: 50, gap: 2 },
      { ...axisBase, size: 34, space: 24, gap: 2 },
    ],
    series: [
      {},
      { label: "cycle", stroke: COLORS.cycle, width: 1.5, points: { show: false } },
      { label: "local RUL", stroke: COLORS.local, width: 1.5, points: { show: false } },
      { label: "federated RUL", stroke: COLORS.fed, width: 1.5, points: { show: false } },
      {
        label: "local lower bound",
        stroke: COLORS.local,
        width: 1.2,
        dash: BOUND_DASH,
        points: { show: false },
      },
      {
        label: "federated lower bound",
        stroke: COLORS.fed,
        width: 1.2,
        dash: BOUND_DASH,
        points: { show: false },
      },
    ],
    hooks: { draw: [drawThresholds] },
  };
  return mount(opts, [[], [], [], [], [], []], el);
}

// The dash of the ghost's line (the player's factory had it stayed on local predictive).
export const GHOST_DASH = [6, 4];

// Profit over time, one line per factory, with a zero line (above it the factory makes money).
// The last series is the player's stay-local ghost: dashed, in the player's colour, null (no
// line) before the player first chose federated. `onCursor(idx, u)` follows the cursor: the
// index of the point under it, null once it leaves.
export function profitChart(el, names, playerName, onCursor = () => {}) {
  const series = [{}];
  names.forEach((name, i) => {
    series.push({
      label: name,
      stroke: FACTORY_COLORS[i % FACTORY_COLORS.length],
      width: name === playerName ? 2.2 : 1.3,
      points: { show: false },
    });
  });
  const playerIndex = Math.max(0, names.indexOf(playerName));
  series.push({
    label: "ghost",
    stroke: FACTORY_COLORS[playerIndex % FACTORY_COLORS.length],
    width: 1.6,
    dash: GHOST_DASH,
    points: { show: false },
  });
  const opts = {
    ...quiet,
    padding: [8, 10, 0, 0],
    scales: {
      x: { time: false, range: (u, min, max) => [min ?? 0, Math.max(max ?? 0, (min ?? 0) + 10)] },
    },
    axes: [
      { ...axisBase, size: 22, space: 60, incrs: TICK_INCRS },
      {
        ...axisBase,
        size: 56,
        space: 30,
        values: (u, splits, axisIdx, space, step) => moneyTicks(splits, step),
      },
    ],
    series,
    cursor: {
      show: true,
      x: true,
      y: false,
      points: { show: true, size: 6 },
      drag: { x: false, y: false, setScale: false },
    },
    hooks: {
      draw: [(u) => hline(u, 0, "rgba(255,255,255,0.25)", { dash: [] })],
      setCursor: [(u) => onCursor(u.cursor.idx, u)],
    },
  };
  return mount(opts, [[], ...names.map(() => []), []], el);
}

// The federated learning curve: test RMSE per round, with the other models as dashed references.
export function curveChart(el, curve, refs) {
  const xs = curve.map((_, i) => i + 1);
  const drawRefs = (u) => {
    const ctx = u.ctx;
    for (const r of refs) {
      const y = hline(u, r.value, r.color, { dash: [4, 4], alpha: 0.7 });
      if (y == null) continue;
      ctx.save();
      ctx.font = `${10 * uPlot.pxRatio}px ${FONT.split("px ")[1]}`;
      ctx.textAlign = "left";
      ctx.fillStyle = r.color;
      ctx.fillText(r.label, u.bbox.left + 4 * uPlot.pxRatio, y - 3 * uPlot.pxRatio);
      ctx.restore();
    }
  };
  const opts = {
    ...quiet,
    padding: [8, 12, 0, 0],
    scales: {
      x: { time: false },
      y: {
        range: (u, min, max) => {
          const vals = refs.map((r) => r.value).filter((v) => v != null && isFinite(v));
          const lo = Math.min(min ?? Infinity, ...vals);
          const hi = Math.max(max ?? -Infinity, ...vals);
          if (!isFinite(lo) || !isFinite(hi)) return [0, 1];
          return [Math.max(0, lo - (hi - lo) * 0.1), hi + (hi - lo) * 0.1 + 0.5];
        },
      },
    },
    axes: [
      {
        ...axisBase,
        size: 22,
        space: 40,
        values: (u, s) => s.map((v) => (Number.isInteger(v) ? v : "")),
      },
      { ...axisBase, size: 36, space: 24 },
    ],
    series: [
      {},
      {
        label: "federated",
        stroke: COLORS.fed,
        width: 2,
        points: { show: xs.length <= 30, size: 4, fill: COLORS.fed },
      },
    ],
    hooks: { draw: [drawRefs] },
  };
  return mount(opts, [xs, curve.slice()], el);
}

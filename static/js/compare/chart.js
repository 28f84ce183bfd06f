// The Compare view's chart, on a canvas: one row per draw seed, a dot per factory for its own
// local model's profit (% of the oracle's), a short mark per row for each level that seed got,
// and each level's mean over the seeds as a labelled dashed line. The player's factory, when
// known, is ringed in every row.

import { COLORS, FONT } from "../charts/core.js";
import { LEVELS, levels } from "./summary.js";

export const LEVEL_COLORS = {
  corrective: COLORS.rul,
  preventative: COLORS.prev,
  federated: COLORS.fed,
  centralized: COLORS.centralized,
  local: COLORS.local,
};
const YOU = "#ffffff";
const PAD = { left: 62, right: 18, bottom: 34, lane: 14 };
const STEPS = [1, 2, 2.5, 5, 10, 20, 25, 50, 100];

// The chart's height for `n` seed rows, in CSS pixels.
export const chartHeight = (n) => PAD.bottom + PAD.lane * 6 + 8 + Math.max(1, n) * 34;

function niceStep(span) {
  return STEPS.find((s) => span / s <= 9) || 100;
}

// Where each part goes, in CSS pixels (also used by the tests to find the player's marks).
export function layout(result, width, height, node) {
  const lv = levels(result);
  const values = result.seeds.flatMap((s) => [
    ...s.local_by_factory,
    ...LEVELS.map((k) => s.percent_of_oracle[k]).filter((v) => v != null),
  ]);
  let lo = Math.min(0, ...values);
  let hi = Math.max(100, ...values);
  const span = hi - lo || 1;
  lo -= span * 0.02;
  hi += span * 0.02;
  const top = PAD.lane * 6 + 8;
  const plot = { left: PAD.left, top, right: width - PAD.right, bottom: height - PAD.bottom };
  const x = (v) => plot.left + ((v - lo) / (hi - lo)) * (plot.right - plot.left);
  const rowH = (plot.bottom - plot.top) / Math.max(1, result.seeds.length);
  const rows = result.seeds.map((s, r) => {
    const y0 = plot.top + r * rowH;
    const dots = s.local_by_factory.map((v, n) => {
      const jitter = (((n * 0.6180339887) % 1) - 0.5) * rowH * 0.62;
      return { node: n, x: x(v), y: y0 + rowH / 2 + jitter, value: v };
    });
    return { seed: s.seed, y0, y1: y0 + rowH, dots, marks: s.percent_of_oracle };
  });
  // Mean lines, labelled in lanes above the plot, left to right.
  const lines = ["local", ...LEVELS]
    .filter((k) => (k === "local" ? lv.local.median : lv[k]) != null)
    .map((k) => {
      const value = k === "local" ? lv.local.median : lv[k];
      return { key: k, value, x: x(value), label: k === "local" ? "local (median)" : k };
    })
    .sort((a, b) => a.x - b.x)
    .map((l, i) => ({ ...l, laneY: PAD.lane * (i + 1) }));
  const step = niceStep(hi - lo);
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) ticks.push(+v.toFixed(6));
  const you = node == null ? [] : rows.map((r) => r.dots[node]).filter(Boolean);
  return { plot, x, rows, lines, ticks, you };
}

export function drawCompare(canvas, result, node) {
  const dpr = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (width < 10 || height < 10) return null;
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const L = layout(result, width, height, node);
  const { plot } = L;
  ctx.font = FONT;
  ctx.textBaseline = "middle";

  // Axis, grid and seed labels.
  ctx.strokeStyle = COLORS.grid;
  ctx.fillStyle = COLORS.text;
  ctx.lineWidth = 1;
  ctx.textAlign = "center";
  for (const t of L.ticks) {
    const px = Math.round(L.x(t)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(px, plot.top);
    ctx.lineTo(px, plot.bottom + 4);
    ctx.stroke();
    ctx.fillText(`${t}%`, px, plot.bottom + 12);
  }
  const captions = [
    "profit, % of the oracle's (100% = maintained on every engine's last cycle)",
    "profit, % of the oracle's",
  ];
  const caption = captions.find((c) => ctx.measureText(c).width <= width - 8) || captions[1];
  ctx.fillText(caption, width / 2, plot.bottom + 26);
  ctx.textAlign = "right";
  for (const row of L.rows) {
    ctx.fillText(`seed ${row.seed}`, plot.left - 8, (row.y0 + row.y1) / 2);
    ctx.beginPath();
    ctx.moveTo(plot.left, Math.round(row.y1) + 0.5);
    ctx.lineTo(plot.right, Math.round(row.y1) + 0.5);
    ctx.stroke();
  }

  // The factories' local models.
  ctx.fillStyle = LEVEL_COLORS.local;
  ctx.globalAlpha = 0.6;
  for (const row of L.rows) {
    for (const d of row.dots) {
      ctx.beginPath();
      ctx.arc(d.x, d.y, 2.6, 0, 2 * Math.PI);
      ctx.fill();
    }
  }
  ctx.globalAlpha = 1;

  // Each seed's levels, then the means over seeds as labelled dashed lines.
  ctx.lineWidth = 2.5;
  for (const row of L.rows) {
    for (const key of LEVELS) {
      const v = row.marks[key];
      if (v == null) continue;
      ctx.strokeStyle = LEVEL_COLORS[key];
      ctx.beginPath();
      ctx.moveTo(L.x(v), row.y0 + 3);
      ctx.lineTo(L.x(v), row.y1 - 3);
      ctx.stroke();
    }
  }
  ctx.lineWidth = 1;
  ctx.setLineDash([4, 4]);
  ctx.textAlign = "left";
  for (const line of L.lines) {
    ctx.strokeStyle = LEVEL_COLORS[line.key];
    ctx.fillStyle = LEVEL_COLORS[line.key];
    ctx.beginPath();
    ctx.moveTo(Math.round(line.x) + 0.5, line.laneY + 4);
    ctx.lineTo(Math.round(line.x) + 0.5, plot.bottom);
    ctx.stroke();
    const text = `${line.label} ${line.value.toFixed(1)}%`;
    const w = ctx.measureText(text).width;
    const tx = Math.min(Math.max(line.x - w / 2, 2), plot.right + PAD.right - w - 2);
    ctx.fillText(text, tx, line.laneY - 2);
  }
  ctx.setLineDash([]);

  // The player's factory.
  ctx.strokeStyle = YOU;
  ctx.lineWidth = 2;
  for (const d of L.you) {
    ctx.beginPath();
    ctx.arc(d.x, d.y, 5.5, 0, 2 * Math.PI);
    ctx.stroke();
  }
  return L;
}

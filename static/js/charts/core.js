// Shared chart plumbing on top of the vendored uPlot (loaded as a plain script: window.uPlot).
// Every chart sizes itself to its container (one ResizeObserver, batched per animation frame).
// Data lives in plain arrays owned by the caller; the caller calls setData once per frame.

export const uPlot = window.uPlot;

// Canvas colours. Text colours (`text`, `faint`) keep >= 4.5:1 contrast on the panels.
export const COLORS = {
  text: "#9ba5b3",
  faint: "#8d98a7",
  grid: "#232a33",
  cycle: "#c9d1db",
  prev: "#f5a524",
  prevThreshold: "#c9a0ff", // the slot chart's preventative threshold: no line there has it
  rul: "#ff5d5d",
  local: "#ff8a3d",
  fed: "#39c5ff",
  centralized: "#b48cff",
  naive: "#9ba5b3",
  sensor: "#7fd1b9",
};

// Colours of the factories' lines, by position (the player first).
export const FACTORY_COLORS = ["#f5a524", "#b48cff", "#5ad1a0", "#ff6f91", "#7aa2ff", "#e0e060"];

export const FONT = "10px ui-monospace, Menlo, Consolas, monospace";

export const axisBase = {
  stroke: COLORS.text,
  grid: { stroke: COLORS.grid, width: 1 },
  ticks: { stroke: COLORS.grid, width: 1, size: 4 },
  font: FONT,
};

const pendingResize = new Set();
let resizeScheduled = false;

function flushResize() {
  resizeScheduled = false;
  for (const item of pendingResize) {
    const { chart, el } = item;
    const w = Math.floor(el.clientWidth);
    const h = Math.floor(el.clientHeight);
    if (w > 0 && h > 0 && (w !== chart.width || h !== chart.height)) {
      chart.setSize({ width: w, height: h });
    }
  }
  pendingResize.clear();
}

const observer = new ResizeObserver((entries) => {
  for (const entry of entries) {
    const item = entry.target.__chartItem;
    if (item) pendingResize.add(item);
  }
  if (!resizeScheduled) {
    resizeScheduled = true;
    requestAnimationFrame(flushResize);
  }
});

// Follow `el`'s size with `chart.setSize({width, height})`.
export function observeSize(chart, el) {
  el.__chartItem = { chart, el };
  observer.observe(el);
}

export function unobserveSize(el) {
  observer.unobserve(el);
  pendingResize.delete(el.__chartItem);
  el.__chartItem = null;
}

// A uPlot chart filling `el`.
export function mount(opts, data, el) {
  const w = Math.max(Math.floor(el.clientWidth), 10);
  const h = Math.max(Math.floor(el.clientHeight), 10);
  const chart = new uPlot({ ...opts, width: w, height: h }, data, el);
  observeSize(chart, el);
  return chart;
}

export function destroyChart(chart) {
  if (!chart) return;
  if (typeof chart.destroy === "function" && !chart.root) {
    chart.destroy(); // our own canvas charts (SensorGrid)
    return;
  }
  const el = chart.root && chart.root.parentNode;
  if (el) unobserveSize(el);
  chart.destroy();
}

// A dashed horizontal line at `value` across the plot area, clipped to it.
export function hline(u, value, color, { lineWidth = 1, dash = [3, 4], alpha = 1 } = {}) {
  if (value == null || !isFinite(value)) return null;
  const ctx = u.ctx;
  const { left, top, width, height } = u.bbox;
  const y = Math.round(u.valToPos(value, "y", true)) + 0.5;
  ctx.save();
  ctx.beginPath();
  ctx.rect(left, top, width, height);
  ctx.clip();
  ctx.strokeStyle = color;
  ctx.globalAlpha = alpha;
  ctx.lineWidth = lineWidth * uPlot.pxRatio;
  ctx.setLineDash(dash.map((d) => d * uPlot.pxRatio));
  ctx.beginPath();
  ctx.moveTo(left, y);
  ctx.lineTo(left + width, y);
  ctx.stroke();
  ctx.restore();
  return y;
}

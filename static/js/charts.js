// Chart factories on top of the vendored uPlot (loaded as a plain script: window.uPlot).
// Every chart sizes itself to its container (ResizeObserver, batched per animation frame).
// Data lives in plain arrays owned by the caller; the caller calls setData once per frame.

const uPlot = window.uPlot;

export const COLORS = {
  text: "#8893a2",
  faint: "#5c6674",
  grid: "#232a33",
  cycle: "#c9d1db",
  prev: "#f5a524",
  rul: "#ff5d5d",
  local: "#ff8a3d",
  fed: "#39c5ff",
  sensor: "#7fd1b9",
};

// Colours of the factories' lines, by position (the player first).
export const FACTORY_COLORS = ["#f5a524", "#b48cff", "#5ad1a0", "#ff6f91", "#7aa2ff", "#e0e060"];

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

function mount(opts, data, el) {
  const w = Math.max(Math.floor(el.clientWidth), 10);
  const h = Math.max(Math.floor(el.clientHeight), 10);
  const chart = new uPlot({ ...opts, width: w, height: h }, data, el);
  el.__chartItem = { chart, el };
  observer.observe(el);
  return chart;
}

function padRange(min, max, fallback) {
  if (min == null || max == null || !isFinite(min) || !isFinite(max)) return fallback;
  if (min === max) {
    const d = Math.abs(min) * 0.001 || 1;
    return [min - d, max + d];
  }
  const pad = (max - min) * 0.12;
  return [min - pad, max + pad];
}

const axisBase = {
  stroke: COLORS.text,
  grid: { stroke: COLORS.grid, width: 1 },
  ticks: { stroke: COLORS.grid, width: 1, size: 4 },
  font: "10px ui-monospace, Menlo, Consolas, monospace",
};

// The 16 sensor sparklines of a slot, drawn on ONE canvas laid over a grid of 16 cells.
// 64 separate chart canvases redrawn at 50 ticks/s cost more in layer updates and compositing
// than the drawing itself, so the sensors share a canvas per slot; the cells underneath are
// plain DOM (background, tooltip, test id) that never change. Labels and latest values are
// drawn on the canvas too, so a tick changes no DOM text (and triggers no layout).
export class SensorGrid {
  constructor(container, labels, window) {
    this.container = container;
    this.labels = labels; // [{symbol, title}]
    this.window = window;
    this.cells = labels.map((l) => {
      const cell = document.createElement("div");
      cell.className = "sensor";
      cell.dataset.testid = "sensor-chart";
      cell.title = l.title;
      container.appendChild(cell);
      return cell;
    });
    this.canvas = document.createElement("canvas");
    this.canvas.className = "sensor-canvas";
    container.appendChild(this.canvas);
    this.ctx = this.canvas.getContext("2d");
    this.ctx.font = "10px ui-monospace, Menlo, Consolas, monospace";
    this.charWidth = this.ctx.measureText("0000000000").width / 10 || 6;
    this.rects = [];
    this.xs = [];
    this.ys = labels.map(() => []);
    container.__chartItem = { chart: this, el: container };
    observer.observe(container);
    this.setSize();
  }

  get width() {
    return this._w || 0;
  }

  get height() {
    return this._h || 0;
  }

  // Called by the shared ResizeObserver (and once at start).
  setSize() {
    const w = this.container.clientWidth;
    const h = this.container.clientHeight;
    this._w = w;
    this._h = h;
    const dpr = window.devicePixelRatio || 1;
    this.dpr = dpr;
    this.canvas.width = Math.max(1, Math.round(w * dpr));
    this.canvas.height = Math.max(1, Math.round(h * dpr));
    this.canvas.style.width = w + "px";
    this.canvas.style.height = h + "px";
    this.rects = this.cells.map((c) => [c.offsetLeft, c.offsetTop, c.offsetWidth, c.offsetHeight]);
    this.draw();
  }

  setData(xs, ys) {
    this.xs = xs;
    this.ys = ys;
    this.draw();
  }

  draw() {
    const { ctx, dpr, xs, window: W } = this;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, this._w, this._h);
    const n = xs.length;
    const last = n ? xs[n - 1] : 0;
    const first = n ? xs[0] : 0;
    const x0 = Math.max(first, last - W + 1);
    const span = Math.max(W - 1, 1);
    ctx.font = "10px ui-monospace, Menlo, Consolas, monospace";
    ctx.textBaseline = "top";
    ctx.lineWidth = 1;
    for (let k = 0; k < this.rects.length; k++) {
      const [cx, cy, cw, ch] = this.rects[k];
      const ys = this.ys[k] || [];
      // Label and latest value (the label is cut short where the cell is too narrow for both).
      const v = ys.length ? ys[ys.length - 1] : null;
      const text = formatValue(v);
      const room = Math.floor((cw - 12) / this.charWidth) - text.length;
      const symbol = this.labels[k].symbol;
      ctx.textAlign = "left";
      ctx.fillStyle = COLORS.faint;
      if (room > 0) ctx.fillText(symbol.length > room ? symbol.slice(0, Math.max(room - 1, 1)) + "…" : symbol, cx + 4, cy + 2);
      ctx.textAlign = "right";
      ctx.fillStyle = COLORS.text;
      ctx.fillText(text, cx + cw - 4, cy + 2);
      if (n < 1) continue;
      // Sparkline in the area under the label.
      const top = cy + 15;
      const bottom = cy + ch - 3;
      const left = cx + 2;
      const width = cw - 4;
      if (bottom - top < 4) continue;
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = 0; i < ys.length; i++) {
        const y = ys[i];
        if (y == null) continue;
        if (y < lo) lo = y;
        if (y > hi) hi = y;
      }
      if (!isFinite(lo)) continue;
      if (lo === hi) {
        const d = Math.abs(lo) * 0.001 || 1;
        lo -= d;
        hi += d;
      }
      const pad = (hi - lo) * 0.08;
      lo -= pad;
      hi += pad;
      const sy = (bottom - top) / (hi - lo);
      const sx = width / span;
      ctx.beginPath();
      let started = false;
      let firstX = 0;
      let lastX = 0;
      for (let i = 0; i < n; i++) {
        const y = ys[i];
        if (y == null) continue;
        const px = left + (xs[i] - x0) * sx;
        const py = bottom - (y - lo) * sy;
        if (!started) {
          ctx.moveTo(px, py);
          firstX = px;
          started = true;
        } else ctx.lineTo(px, py);
        lastX = px;
      }
      ctx.strokeStyle = COLORS.sensor;
      ctx.stroke();
    }
  }

  destroy() {
    observer.unobserve(this.container);
    this.container.__chartItem = null;
    this.container.replaceChildren();
  }
}

export function formatValue(v) {
  if (v == null || !isFinite(v)) return "-";
  const a = Math.abs(v);
  if (a >= 1000) return v.toFixed(1);
  if (a >= 100) return v.toFixed(2);
  if (a >= 1) return v.toFixed(3);
  return v.toFixed(4);
}

// The slot's strategy chart: cycle count vs the preventative threshold, and the local and
// federated predicted RUL vs the RUL threshold. `thresholds()` returns the current
// {preventative, rul, emphasis} so the dotted lines follow the config and the chosen strategy.
export function strategyChart(el, thresholds) {
  const drawThresholds = (u) => {
    const t = thresholds();
    const ctx = u.ctx;
    const { left, top, width, height } = u.bbox;
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, width, height);
    ctx.clip();
    const line = (value, color, strong) => {
      if (value == null) return;
      const y = Math.round(u.valToPos(value, "y", true)) + 0.5;
      ctx.strokeStyle = color;
      ctx.globalAlpha = strong ? 1 : 0.45;
      ctx.lineWidth = (strong ? 1.6 : 1) * uPlot.pxRatio;
      ctx.setLineDash([3 * uPlot.pxRatio, 4 * uPlot.pxRatio]);
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(left + width, y);
      ctx.stroke();
    };
    line(t.preventative, COLORS.prev, t.emphasis === "preventative");
    line(t.rul, COLORS.rul, t.emphasis === "local" || t.emphasis === "federated");
    ctx.restore();
  };
  const opts = {
    legend: { show: false },
    cursor: { show: false },
    select: { show: false },
    padding: [6, 8, 0, 0],
    scales: {
      x: { time: false, range: (u, min, max) => [min == null ? 0 : Math.min(min, 1), Math.max(max ?? 0, 60)] },
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
    ],
    hooks: { draw: [drawThresholds] },
  };
  return mount(opts, [[], [], [], []], el);
}

function money(v) {
  const a = Math.abs(v);
  const s = a >= 1e6 ? (a / 1e6).toFixed(a >= 1e7 ? 0 : 1) + "M" : a >= 1e3 ? Math.round(a / 1e3) + "k" : String(Math.round(a));
  return (v < 0 ? "-$" : "$") + s;
}

// Profit over time, one line per factory.
export function profitChart(el, names, playerName) {
  const series = [{}];
  names.forEach((name, i) => {
    series.push({
      label: name,
      stroke: FACTORY_COLORS[i % FACTORY_COLORS.length],
      width: name === playerName ? 2.2 : 1.3,
      points: { show: false },
    });
  });
  const opts = {
    legend: { show: false },
    cursor: { show: false },
    select: { show: false },
    padding: [8, 10, 0, 0],
    scales: { x: { time: false, range: (u, min, max) => [min ?? 0, Math.max(max ?? 0, (min ?? 0) + 10)] } },
    axes: [
      { ...axisBase, size: 22, space: 60 },
      { ...axisBase, size: 52, space: 30, values: (u, splits) => splits.map(money) },
    ],
    series,
    hooks: {
      draw: [
        (u) => {
          // The zero line: above it the factory makes money.
          const ctx = u.ctx;
          const { left, width, top, height } = u.bbox;
          const y = u.valToPos(0, "y", true);
          if (y < top || y > top + height) return;
          ctx.save();
          ctx.strokeStyle = "rgba(255,255,255,0.25)";
          ctx.lineWidth = uPlot.pxRatio;
          ctx.beginPath();
          ctx.moveTo(left, Math.round(y) + 0.5);
          ctx.lineTo(left + width, Math.round(y) + 0.5);
          ctx.stroke();
          ctx.restore();
        },
      ],
    },
  };
  const data = [[]];
  names.forEach(() => data.push([]));
  return mount(opts, data, el);
}

// The federated learning curve: test RMSE per round, with the other models as dashed references.
export function curveChart(el, curve, refs) {
  const xs = curve.map((_, i) => i + 1);
  const opts = {
    legend: { show: false },
    cursor: { show: false },
    select: { show: false },
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
      { ...axisBase, size: 22, space: 40, label: "", values: (u, s) => s.map((v) => (Number.isInteger(v) ? v : "")) },
      { ...axisBase, size: 36, space: 24 },
    ],
    series: [{}, { label: "federated", stroke: COLORS.fed, width: 2, points: { show: xs.length <= 30, size: 4, fill: COLORS.fed } }],
    hooks: {
      draw: [
        (u) => {
          const ctx = u.ctx;
          const { left, width } = u.bbox;
          ctx.save();
          ctx.font = `${10 * uPlot.pxRatio}px ui-monospace, Menlo, Consolas, monospace`;
          ctx.textAlign = "left";
          ctx.setLineDash([4 * uPlot.pxRatio, 4 * uPlot.pxRatio]);
          ctx.lineWidth = uPlot.pxRatio;
          for (const r of refs) {
            if (r.value == null || !isFinite(r.value)) continue;
            const y = Math.round(u.valToPos(r.value, "y", true)) + 0.5;
            ctx.strokeStyle = r.color;
            ctx.globalAlpha = 0.7;
            ctx.beginPath();
            ctx.moveTo(left, y);
            ctx.lineTo(left + width, y);
            ctx.stroke();
            ctx.globalAlpha = 1;
            ctx.fillStyle = r.color;
            ctx.fillText(r.label, left + 4 * uPlot.pxRatio, y - 3 * uPlot.pxRatio);
          }
          ctx.restore();
        },
      ],
    },
  };
  return mount(opts, [xs, curve.slice()], el);
}

export function destroyChart(chart) {
  if (!chart) return;
  if (chart instanceof SensorGrid) {
    chart.destroy();
    return;
  }
  const el = chart.root && chart.root.parentNode;
  if (el) {
    observer.unobserve(el);
    pendingResize.delete(el.__chartItem);
    el.__chartItem = null;
  }
  chart.destroy();
}

export { money };

// The 16 sensor sparklines of a slot, drawn on ONE canvas laid over a grid of 16 cells.
// 64 separate chart canvases redrawn at 50 ticks/s cost more in layer updates and compositing
// than the drawing itself, so the sensors share a canvas per slot; the cells underneath are
// plain DOM (background, tooltip, test id) that never change. Labels and latest values are
// drawn on the canvas too, so a tick changes no DOM text (and triggers no layout).

import { formatValue } from "../format.js";
import { COLORS, FONT, observeSize, unobserveSize } from "./core.js";

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
    this.ctx.font = FONT;
    this.charWidth = this.ctx.measureText("0000000000").width / 10 || 6;
    this.rects = [];
    this.xs = [];
    this.ys = labels.map(() => []);
    observeSize(this, container);
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
    ctx.font = FONT;
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
      if (room > 0) {
        const shown = symbol.length > room ? symbol.slice(0, Math.max(room - 1, 1)) + "…" : symbol;
        ctx.fillText(shown, cx + 4, cy + 2);
      }
      ctx.textAlign = "right";
      ctx.fillStyle = COLORS.text;
      ctx.fillText(text, cx + cw - 4, cy + 2);
      if (n >= 1) this.sparkline(ys, cx, cy, cw, ch, x0, span);
    }
  }

  // The line of one channel in the area under its label.
  sparkline(ys, cx, cy, cw, ch, x0, span) {
    const { ctx, xs } = this;
    const top = cy + 15;
    const bottom = cy + ch - 3;
    const left = cx + 2;
    const width = cw - 4;
    if (bottom - top < 4) return;
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < ys.length; i++) {
      const y = ys[i];
      if (y == null) continue;
      if (y < lo) lo = y;
      if (y > hi) hi = y;
    }
    if (!isFinite(lo)) return;
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
    for (let i = 0; i < xs.length; i++) {
      const y = ys[i];
      if (y == null) continue;
      const px = left + (xs[i] - x0) * sx;
      const py = bottom - (y - lo) * sy;
      if (!started) {
        ctx.moveTo(px, py);
        started = true;
      } else ctx.lineTo(px, py);
    }
    ctx.strokeStyle = COLORS.sensor;
    ctx.stroke();
  }

  destroy() {
    unobserveSize(this.container);
    this.container.replaceChildren();
  }
}

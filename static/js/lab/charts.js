// The lab's round-by-round charts on the vendored uPlot (through ../charts/core.js):
// - test RMSE and late-life RMSE of the global model per round, and the capped RMSE (true RUL
//   capped at 125); the privacy spent (epsilon, right axis) only for a run with DP noise (the
//   chart is rebuilt without that axis otherwise: an empty axis reads as "epsilon 0");
// - the nodes' loss with their own trained model, then with the new global model: plotted at
//   round r - 0.5 and r, the median node draws the FF09 sawtooth (quartiles beside it);
// - a round's simulated time and the bytes it moved.

import { COLORS, FONT, axisBase, mount, unobserveSize, uPlot } from "../charts/core.js";

const quiet = { legend: { show: false }, select: { show: false } };
const MB = 1e6;
const CAPPED = "#7aa2ff"; // capped RMSE (true RUL capped at 125)

const ROUND_INCRS = [1, 2, 5].concat(
  ...Array.from({ length: 4 }, (_, i) => [10, 20, 25, 50].map((m) => m * 10 ** i)),
);

function xAxis() {
  return { ...axisBase, size: 22, space: 40, gap: 2, incrs: ROUND_INCRS, label: "", font: FONT };
}

function yAxis(extra = {}) {
  return { ...axisBase, size: 44, space: 28, gap: 2, ...extra };
}

const line = (label, stroke, extra = {}) => ({
  label,
  stroke,
  width: 1.6,
  spanGaps: true,
  points: { show: true, size: 4, fill: stroke },
  ...extra,
});

function quantile(sorted, q) {
  if (!sorted.length) return null;
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}

function quartiles(values) {
  const v = values.filter((x) => x != null && Number.isFinite(x)).sort((a, b) => a - b);
  return [quantile(v, 0.25), quantile(v, 0.5), quantile(v, 0.75)];
}

const finite = (x) => (x != null && Number.isFinite(x) ? x : null);

export class LabCharts {
  constructor(els) {
    this.els = els;
    this.rmse = [[], [], [], [], []]; // rounds, RMSE, late-life RMSE, epsilon, capped RMSE
    this.loss = [[], [], [], []];
    this.cost = [[], [], []];
    this.charts = null;
    this.privacy = false; // the epsilon axis and line are drawn
  }

  // The RMSE chart, with the epsilon axis and line only under privacy.
  mountRmse() {
    const eps = this.privacy;
    return mount(
      {
        ...quiet,
        padding: [6, 8, 0, 0],
        scales: {
          x: { time: false },
          y: { range: (u, min, max) => [0, Math.max(max ?? 0, 1) * 1.08] },
          eps: { range: (u, min, max) => [0, Math.max(max ?? 0, 0.1) * 1.08] },
        },
        axes: [
          xAxis(),
          yAxis(),
          ...(eps ? [yAxis({ scale: "eps", side: 1, grid: { show: false } })] : []),
        ],
        series: [
          {},
          line("test RMSE", COLORS.fed),
          line("late-life RMSE", COLORS.local),
          ...(eps ? [line("epsilon", "#e8edf3", { scale: "eps", dash: [4, 3] })] : []),
          line("capped RMSE", CAPPED),
        ],
      },
      this.rmseData(),
      this.els.rmse,
    );
  }

  rmseData() {
    const [r, rmse, late, eps, capped] = this.rmse;
    return this.privacy ? [r, rmse, late, eps, capped] : [r, rmse, late, capped];
  }

  // Draw the privacy spent (a run with DP noise) or not; the legend's entry follows.
  setPrivacy(on) {
    if (this.els.epsLegend) this.els.epsLegend.hidden = !on;
    if (on === this.privacy) return;
    this.privacy = on;
    if (!this.charts) return;
    this.charts.rmse.destroy();
    unobserveSize(this.els.rmse);
    this.charts.rmse = this.mountRmse();
  }

  mount() {
    if (this.charts) return;
    const x = { time: false };
    this.charts = {
      rmse: this.mountRmse(),
      loss: mount(
        {
          ...quiet,
          padding: [6, 8, 0, 0],
          scales: { x, y: { range: (u, min, max) => [0, Math.max(max ?? 0, 1e-6) * 1.08] } },
          axes: [xAxis(), yAxis({ values: (u, ticks) => ticks.map((t) => t.toPrecision(2)) })],
          series: [
            {},
            line("lower quartile", COLORS.faint, { width: 1, points: { show: false } }),
            line("median node", "#5ad1a0"),
            line("upper quartile", COLORS.faint, { width: 1, points: { show: false } }),
          ],
        },
        this.loss,
        this.els.loss,
      ),
      cost: mount(
        {
          ...quiet,
          padding: [6, 0, 0, 0],
          scales: {
            x,
            s: { range: (u, min, max) => [0, Math.max(max ?? 0, 1e-3) * 1.1] },
            mb: { range: (u, min, max) => [0, Math.max(max ?? 0, 1e-3) * 1.1] },
          },
          axes: [
            xAxis(),
            yAxis({ scale: "s" }),
            yAxis({ scale: "mb", side: 1, grid: { show: false } }),
          ],
          series: [
            {},
            line("seconds", COLORS.prev, { scale: "s" }),
            line("MB", "#b48cff", { scale: "mb" }),
          ],
        },
        this.cost,
        this.els.cost,
      ),
    };
  }

  clear() {
    for (const arr of [...this.rmse, ...this.loss, ...this.cost]) arr.length = 0;
    this.redraw();
  }

  add(record) {
    if (record.epsilon != null && !this.privacy) this.setPrivacy(true); // spent after all
    this.mount();
    const r = record.round;
    this.rmse[0].push(r);
    this.rmse[1].push(finite(record.rmse));
    this.rmse[2].push(finite(record.late_life_rmse));
    this.rmse[3].push(finite(record.epsilon));
    this.rmse[4].push(finite(record.capped_rmse));
    const before = quartiles(record.node_loss_before || []);
    const after = quartiles(record.node_loss_after || []);
    this.loss[0].push(r - 0.5, r);
    for (let k = 0; k < 3; k++) this.loss[k + 1].push(before[k], after[k]);
    this.cost[0].push(r);
    this.cost[1].push(finite(record.seconds));
    this.cost[2].push((record.bytes_up + record.bytes_down) / MB);
    this.redraw();
    const last = (a) => a[a.length - 1];
    const fmt = (v) => (v == null ? "not finite" : v.toFixed(2));
    this.els.rmse.setAttribute(
      "aria-label",
      `Test RMSE per round; round ${r}: ${fmt(last(this.rmse[1]))} cycles, capped ` +
        `${fmt(last(this.rmse[4]))}, late-life ${fmt(last(this.rmse[2]))}` +
        (record.epsilon == null ? "." : `; privacy spent epsilon ${fmt(record.epsilon)}.`),
    );
    this.els.loss.setAttribute(
      "aria-label",
      `Median node loss, round ${r}: ${before[1] == null ? "none" : before[1].toPrecision(3)} ` +
        `with its own model, ${after[1] == null ? "none" : after[1].toPrecision(3)} with the ` +
        `global model.`,
    );
    this.els.cost.setAttribute(
      "aria-label",
      `Round ${r} took ${fmt(record.seconds)} s and moved ${last(this.cost[2]).toFixed(2)} MB.`,
    );
  }

  redraw() {
    if (!this.charts) return;
    this.charts.rmse.setData(this.rmseData());
    this.charts.loss.setData(this.loss);
    this.charts.cost.setData(this.cost);
  }

  // Points drawn so far, per chart (for tests and the curious).
  points() {
    return { rmse: this.rmse[0].length, loss: this.loss[0].length, cost: this.cost[0].length };
  }
}

export { uPlot };

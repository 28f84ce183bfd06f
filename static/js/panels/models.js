// The models panel: each model's test RMSE as a bar, and the federated learning curve.

import { COLORS, destroyChart } from "../charts/core.js";
import { curveChart } from "../charts/plots.js";
import { $, el } from "../dom.js";

export function mountModels(store) {
  const { game } = store;
  const bars = $("rmse");
  const curveBox = $("curve-chart");
  let curve = null;

  function build(m) {
    const rows = [
      ["naive", "Naive", m.naive_rmse, COLORS.naive],
      ["centralized", "Centralized", m.centralized_rmse, COLORS.centralized],
      ["local", "Local", m.local_rmse, COLORS.local],
      ["federated", "Federated", m.federated_rmse, COLORS.fed],
    ];
    const max = Math.max(...rows.map((r) => r[2]).filter((v) => isFinite(v)), 1);
    bars.replaceChildren();
    for (const [key, label, value, color] of rows) {
      const bar = el("div", "bar");
      bar.setAttribute("aria-hidden", "true");
      const fill = el("span");
      fill.style.width = `${Math.max(2, (100 * value) / max)}%`;
      fill.style.background = color;
      bar.appendChild(fill);
      const val = el("div", "val", isFinite(value) ? value.toFixed(1) : "-");
      val.dataset.testid = `rmse-${key}`;
      bars.append(el("div", "name", label), bar, val);
    }
    destroyChart(curve);
    const points = m.federated_curve || [];
    curve = curveChart(curveBox, points, [
      { label: "local", value: m.local_rmse, color: COLORS.local },
      { label: "centralized", value: m.centralized_rmse, color: COLORS.centralized },
    ]);
    const f = (v) => (v != null && isFinite(v) ? v.toFixed(1) : "-");
    curveBox.setAttribute(
      "aria-label",
      points.length
        ? `Federated learning curve: test RMSE ${f(points[0])} after round 1, ` +
            `${f(points[points.length - 1])} after round ${points.length}; ` +
            `references: local ${f(m.local_rmse)}, centralized ${f(m.centralized_rmse)}.`
        : "Federated learning curve: no rounds recorded.",
    );
  }

  store.subscribe("snapshot", ({ modelsChanged }) => {
    if (modelsChanged) build(game.models);
  });
}

// The models panel: the model family, each model's test RMSE as a bar (the player's own local
// model next to the median over the factories), the same near the end of an engine's life
// (where maintenance is decided), and the federated learning curve.

import { COLORS, destroyChart } from "../charts/core.js";
import { curveChart } from "../charts/plots.js";
import { $, el, setText } from "../dom.js";

const YOURS = "#f5a524"; // the player's colour (FACTORY_COLORS[0])

// What each model family sees, in a few words.
export const FAMILIES = {
  window: "a network on the last 30 cycles of readings",
  ff09: "the FF09 report's 16-48-1 network on one cycle's readings",
};

export function familyText(name) {
  return FAMILIES[name] ? `${name} (${FAMILIES[name]})` : String(name);
}

// The player's factory's own local model, by node (`factories` is listed by node).
export function factoryModel(models, node) {
  const list = models.factories || [];
  return list.find((f) => f.node === node) || list[node] || null;
}

const f1 = (v) => (v != null && isFinite(v) ? v.toFixed(1) : "-");

function drawBars(box, rows, prefix) {
  const max = Math.max(...rows.map((r) => r[2]).filter((v) => v != null && isFinite(v)), 1);
  box.replaceChildren();
  for (const [key, label, value, color] of rows) {
    const bar = el("div", "bar");
    bar.setAttribute("aria-hidden", "true");
    const fill = el("span");
    fill.style.width = `${Math.max(2, (100 * (isFinite(value) ? value : 0)) / max)}%`;
    fill.style.background = color;
    bar.appendChild(fill);
    const val = el("div", "val", f1(value));
    val.dataset.testid = `${prefix}-${key}`;
    box.append(el("div", "name", label), bar, val);
  }
}

export function mountModels(store) {
  const { game } = store;
  const bars = $("rmse");
  const late = $("rmse-late");
  const family = $("model-family");
  const why = $("model-why");
  const curveBox = $("curve-chart");
  let curve = null;
  let shownNode = null;

  function buildFigures(m, node) {
    shownNode = node;
    const mine = factoryModel(m, node);
    const n = (m.factories || []).length;
    const median = n ? `Local (median of ${n})` : "Local";
    const yours = `Your local (node ${node})`;
    setText(family, `Model family: ${familyText(m.model)}.`);
    drawBars(
      bars,
      [
        ["naive", "Naive", m.naive_rmse, COLORS.naive],
        ["centralized", "Centralized", m.centralized_rmse, COLORS.centralized],
        ["local", median, m.local_rmse, COLORS.local],
        ["yours", yours, mine ? mine.rmse : null, YOURS],
        ["federated", "Federated", m.federated_rmse, COLORS.fed],
      ],
      "rmse",
    );
    drawBars(
      late,
      [
        ["centralized", "Centralized", m.centralized_late_life_rmse, COLORS.centralized],
        ["local", median, m.local_late_life_rmse, COLORS.local],
        ["yours", yours, mine ? mine.late_life_rmse : null, YOURS],
        ["federated", "Federated", m.federated_late_life_rmse, COLORS.fed],
      ],
      "late",
    );
    setText(
      why,
      `Near the end of an engine's life, where maintenance is decided, the federated model is ` +
        `off by ${f1(m.federated_late_life_rmse)} cycles; your own local model, trained on ` +
        `node ${node}'s engines alone, by ${f1(mine ? mine.late_life_rmse : null)} ` +
        `(the median factory's by ${f1(m.local_late_life_rmse)}).`,
    );
  }

  function buildCurve(m) {
    destroyChart(curve);
    const points = m.federated_curve || [];
    curve = curveChart(curveBox, points, [
      { label: "local (median)", value: m.local_rmse, color: COLORS.local },
      { label: "centralized", value: m.centralized_rmse, color: COLORS.centralized },
    ]);
    curveBox.setAttribute(
      "aria-label",
      points.length
        ? `Federated learning curve: test RMSE ${f1(points[0])} after round 1, ` +
            `${f1(points[points.length - 1])} after round ${points.length}; ` +
            `references: local (median) ${f1(m.local_rmse)}, centralized ${f1(m.centralized_rmse)}.`
        : "Federated learning curve: no rounds recorded.",
    );
  }

  store.subscribe("snapshot", ({ modelsChanged }) => {
    const node = game.player.node;
    if (modelsChanged || node !== shownNode) buildFigures(game.models, node);
    if (modelsChanged) buildCurve(game.models);
  });
}

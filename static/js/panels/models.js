// The models panel: the model family, each model's test RMSE as a bar (the player's own local
// model next to the median over the factories), the same near the end of an engine's life
// (where maintenance is decided), each model's calibration margin with what each policy lets
// fail and earns (`models.calibration`, `models.policies`), and the federated learning curve.
// While a lab model decides for the federated strategy (`state.lab_model`, docs/lab.md section
// 4), its own errors, margin and % of the oracle get a row of their own, "Lab model (decides)",
// and the default federated model's rows say they do not decide.

import { COLORS, destroyChart } from "../charts/core.js";
import { curveChart } from "../charts/plots.js";
import { $, el, setHidden, setText } from "../dom.js";
import { median } from "../compare/summary.js";

const YOURS = "#f5a524"; // the player's colour (FACTORY_COLORS[0])
const LAB = "#5ad1a0"; // a deployed lab model's rows
export const LAB_ROW = "Lab model (decides)";
const fedLabel = (lab) => (lab ? "Default federated (not deciding)" : "Federated");

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
// A margin or a count: at most two decimals, no trailing zeros (4.75, 11, 29, 28.5).
export const short = (v) => (v != null && isFinite(v) ? String(Number(v.toFixed(2))) : "-");
const pct = (v) => (v != null && isFinite(v) ? `${v.toFixed(1)}%` : "-");
const NUMBER_WORDS = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight"];

// The policy table's rows: [key, label, margin, failures, % of the oracle, colour]; the
// player's own local model's outcome is its node's in `policies.local_by_node`.
export function policyRows(m, node, lab = null) {
  const cal = m.calibration || null;
  const pol = m.policies || { percent_of_oracle: {}, failures: {} };
  const locals = cal ? cal.local.map((c) => c.margin) : [];
  const mine = cal && cal.local[node] ? cal.local[node].margin : null;
  const n = (m.factories || []).length || locals.length;
  const out = (key) => [pol.failures[key] ?? null, pol.percent_of_oracle[key] ?? null];
  return [
    ["corrective", "Corrective", null, ...out("corrective"), COLORS.naive],
    ["preventative", "Preventative", null, ...out("preventative"), COLORS.prev],
    [
      "local",
      `Local (median of ${n})`,
      locals.length ? median(locals) : null,
      ...out("local_median"),
      COLORS.local,
    ],
    ["yours", `Your local (node ${node})`, mine, ...ownOutcome(pol, node), YOURS],
    [
      "federated",
      fedLabel(lab),
      cal ? cal.federated.margin : null,
      ...out("federated"),
      COLORS.fed,
    ],
    ...(lab ? [["lab", LAB_ROW, lab.margin, null, lab.percent_of_oracle, LAB]] : []),
    [
      "centralized",
      "Centralized",
      cal ? cal.centralized.margin : null,
      ...out("centralized"),
      COLORS.centralized,
    ],
  ];
}

function ownOutcome(pol, node) {
  const own = pol.local_by_node;
  if (!own) return [null, null];
  return [own.failures[node] ?? null, own.percent_of_oracle[node] ?? null];
}

// What the panel says about the player's local model's margin: how little it calibrates on.
export function marginNote(m, node, engines = 4) {
  const cal = m.calibration;
  const mine = cal && cal.local[node];
  if (!mine) return "";
  const all = cal.local.map((c) => c.margin);
  const word = NUMBER_WORDS[engines] ?? String(engines);
  return (
    `Your local model calibrates on its own ${word} engines alone: ${mine.rows} late-life ` +
    `cycles (the federated model's margin comes from ${cal.federated.rows}, summed from every ` +
    `factory's residual histogram without sharing data), so its margin of ${short(mine.margin)} ` +
    `cycles is a guess from very little data; the ${all.length} factories' margins range from ` +
    `${short(Math.min(...all))} to ${short(Math.max(...all))}.`
  );
}

// The rule in words: the decision, and what the margin is.
export function ruleText(m, decision, threshold) {
  const cal = m.calibration;
  const level = cal ? Math.round(100 * cal.federated.level) : 90;
  const window = cal ? short(cal.federated.window) : "30";
  const ticks = m.policies ? m.policies.ticks.toLocaleString("en-US") : "?";
  const what =
    `a model's margin is the ${level}% quantile of its over-prediction (prediction − true RUL) ` +
    `on its training engines' cycles with true RUL ≤ ${window}.`;
  const outcomes =
    ` Failures and % of the oracle: ${ticks} ticks of fair draws with the game's models and ` +
    `rules.`;
  return decision === "raw"
    ? `Decision: raw rule (maintain when a prediction < ${threshold}; margins measured, not ` +
        `used): ${what}${outcomes}`
    : `Decision: calibrated (maintain when prediction − margin < ${threshold}); ${what}${outcomes}`;
}

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

  function buildFigures(m, node, lab) {
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
        ["federated", fedLabel(lab), m.federated_rmse, COLORS.fed],
        ...(lab ? [["lab", LAB_ROW, lab.rmse, LAB]] : []),
      ],
      "rmse",
    );
    drawBars(
      late,
      [
        ["centralized", "Centralized", m.centralized_late_life_rmse, COLORS.centralized],
        ["local", median, m.local_late_life_rmse, COLORS.local],
        ["yours", yours, mine ? mine.late_life_rmse : null, YOURS],
        ["federated", fedLabel(lab), m.federated_late_life_rmse, COLORS.fed],
        ...(lab ? [["lab", LAB_ROW, lab.late_life_rmse, LAB]] : []),
      ],
      "late",
    );
    const fed = lab
      ? `the lab model that decides for the federated strategy is off by ` +
        `${f1(lab.late_life_rmse)} cycles (the default federated model by ` +
        `${f1(m.federated_late_life_rmse)})`
      : `the federated model is off by ${f1(m.federated_late_life_rmse)} cycles`;
    setText(
      why,
      `Near the end of an engine's life, where maintenance is decided, ${fed}; your own local ` +
        `model, trained on ` +
        `node ${node}'s engines alone, by ${f1(mine ? mine.late_life_rmse : null)} ` +
        `(the median factory's by ${f1(m.local_late_life_rmse)}).`,
    );
  }

  const policyBody = $("policy-body");
  const policyRule = $("policy-rule");
  const marginNoteEl = $("model-margin-note");

  function buildPolicies(m, node, decision, lab) {
    setText(policyRule, ruleText(m, decision, game.config.rul_threshold));
    policyBody.replaceChildren(
      ...policyRows(m, node, lab).map(([key, label, margin, failures, percent, color]) => {
        const tr = el("tr", key === "yours" ? "mine" : null);
        const th = el("th", null);
        th.scope = "row";
        const swatch = el("span", "swatch");
        swatch.style.background = color;
        th.append(swatch, el("span", key === "yours" ? "fname" : null, label));
        tr.appendChild(th);
        const cells = [
          ["margin", margin == null ? "-" : short(margin)],
          ["failures", failures == null ? "-" : short(failures)],
          ["pct", pct(percent)],
        ];
        for (const [what, text] of cells) {
          const td = el("td", what === "pct" && percent < 0 ? "num neg" : "num", text);
          td.dataset.testid = `policy-${key}-${what}`;
          tr.appendChild(td);
        }
        return tr;
      }),
    );
    setText(marginNoteEl, marginNote(m, node));
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

  let shownDecision = null;
  let shownLab; // the lab model the figures show (null: none), undefined before the first build
  function refresh(force) {
    const node = game.player.node;
    const decision = game.state.margins ? game.state.margins.decision : null;
    const lab = game.state.lab_model || null;
    if (force || node !== shownNode || decision !== shownDecision || lab !== shownLab) {
      buildFigures(game.models, node, lab);
      shownDecision = decision;
      shownLab = lab;
      buildPolicies(game.models, node, decision, lab);
      showDeployed(lab);
    }
  }
  store.subscribe("snapshot", ({ modelsChanged }) => {
    refresh(modelsChanged);
    if (modelsChanged) buildCurve(game.models);
  });
  store.subscribe("render", ({ stateChanged }) => {
    if (stateChanged) refresh(false);
  });

  // A model deployed from the lab decides for the federated strategy with its own margin: what
  // it earns, measured like the default model by the lab (fast fleet simulation).
  const deployedEl = $("model-deployed");
  function showDeployed(lab) {
    setHidden(deployedEl, !lab);
    if (!lab) return;
    const worse = lab.worse_than_default ? " It earns less than the default model." : "";
    setText(
      deployedEl,
      `The federated strategy now runs ${lab.label}` +
        (lab.decision === "raw" ? "" : `, with its own margin of ${short(lab.margin)} cycles`) +
        `: its rows read "${LAB_ROW}" (the federated rows are the default model's, which does ` +
        `not decide now). By the lab's fast fleet simulation it earns ` +
        `${pct(lab.percent_of_oracle)} of the oracle's profit, the default federated model ` +
        `${pct(lab.default_percent_of_oracle)}, the local models (median) ` +
        `${pct(lab.local_percent_of_oracle)}; its failures are not measured.${worse}`,
    );
  }
}

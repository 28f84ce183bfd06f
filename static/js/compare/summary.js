// The Compare view's words and numbers: the one-sentence answer, the per-level summaries and
// the per-seed table. Pure functions of the server's result frame (the tests import them too).

import { el } from "../dom.js";

// The levels drawn as lines, in the result's `percent_of_oracle` keys.
export const LEVELS = ["corrective", "preventative", "federated", "centralized"];

export const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

export function median(xs) {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// One decimal with an explicit sign: 36.42 -> "+36.4", -0.31 -> "-0.3".
export function signed(v) {
  const text = Math.abs(v).toFixed(1);
  return (v < 0 && text !== "0.0" ? "-" : "+") + text;
}

export const pct = (v) => (v != null && isFinite(v) ? `${v.toFixed(1)}%` : "-");

// "Federated earns +36.4 points of the oracle's profit more than a factory's own local model
// (95% interval +33.9 to +39.0); it beats 93% of the factories' local models."
export function answerSentence(result) {
  const d = result.federated_minus_local;
  const [lo, hi] = d.ci95;
  const share = Math.round(100 * result.share_federated_beats_local);
  const amount = d.mean < 0 ? `${Math.abs(d.mean).toFixed(1)} points` : `${signed(d.mean)} points`;
  const direction = d.mean < 0 ? "less" : "more";
  return (
    `Federated earns ${amount} of the oracle's profit ${direction} than a factory's own local ` +
    `model (95% interval ${signed(lo)} to ${signed(hi)}); it beats ${share}% of the factories' ` +
    `local models.`
  );
}

// Means over seeds of each level, and the spread of every factory's local result.
export function levels(result) {
  const out = {};
  for (const key of LEVELS) {
    const values = result.seeds.map((s) => s.percent_of_oracle[key]).filter((v) => v != null);
    if (values.length) out[key] = mean(values);
  }
  const all = result.seeds.flatMap((s) => s.local_by_factory);
  out.local = { median: median(all), min: Math.min(...all), max: Math.max(...all) };
  return out;
}

// The player's factory over the seeds: its local model's results and their mean.
export function yours(result, node) {
  if (node == null) return null;
  const values = result.seeds.map((s) => s.local_by_factory[node]);
  if (values.some((v) => v == null)) return null;
  return { node, values, mean: mean(values) };
}

export function youSentence(result, mine) {
  const fed = levels(result).federated;
  const gap = fed - mine.mean;
  const n = result.seeds.length;
  return (
    `Your factory's own local model (node ${mine.node}) earns ${pct(mine.mean)} of the ` +
    `oracle's profit on average over ${n === 1 ? "the draw seed" : `the ${n} draw seeds`}; ` +
    `federated earns ${pct(fed)}: ${signed(gap)} points for you.`
  );
}

// The chart's text alternative.
export function chartLabel(result, mine) {
  const lv = levels(result);
  const n = result.seeds[0] ? result.seeds[0].local_by_factory.length : 0;
  const parts = LEVELS.filter((k) => lv[k] != null).map((k) => `${k} ${pct(lv[k])}`);
  const you = mine ? ` Your factory (node ${mine.node}): ${pct(mine.mean)} on average.` : "";
  return (
    `Profit as % of the oracle's, per draw seed: each of the ${n} factories' own local model ` +
    `(median ${pct(lv.local.median)}, from ${pct(lv.local.min)} to ${pct(lv.local.max)}); ` +
    `means over ${result.seeds.length} seeds: ${parts.join(", ")}.${you}`
  );
}

// The per-seed table's rows (and a mean row): seed, each level, local median, yours.
export function tableRows(result, node) {
  const rows = result.seeds.map((s) => {
    const fed = s.percent_of_oracle.federated;
    const beats = s.local_by_factory.filter((v) => fed - v > 0).length / s.local_by_factory.length;
    return {
      seed: String(s.seed),
      corrective: s.percent_of_oracle.corrective,
      preventative: s.percent_of_oracle.preventative,
      local: median(s.local_by_factory),
      yours: node == null ? null : s.local_by_factory[node],
      federated: fed,
      centralized: s.percent_of_oracle.centralized,
      beats,
    };
  });
  const avg = (key) => mean(rows.map((r) => r[key]).filter((v) => v != null));
  const mine = node == null ? null : avg("yours");
  const keys = ["corrective", "preventative", "local", "federated", "centralized", "beats"];
  const meanRow = { seed: "mean", yours: mine };
  for (const key of keys) meanRow[key] = avg(key);
  return [...rows, meanRow];
}

export function renderTable(head, body, result, node) {
  const columns = [
    ["seed", "Seed"],
    ["corrective", "Corrective"],
    ["preventative", "Preventative"],
    ["local", "Local (median)"],
    ...(node == null ? [] : [["yours", `Yours (node ${node})`]]),
    ["federated", "Federated"],
    ["centralized", "Centralized"],
    ["beats", "Fed. beats local"],
  ];
  const tr = el("tr");
  for (const [key, label] of columns) {
    const th = el("th", key === "seed" ? null : "num", label);
    th.scope = "col";
    tr.appendChild(th);
  }
  head.replaceChildren(tr);
  body.replaceChildren(
    ...tableRows(result, node).map((r) => {
      const row = el("tr", r.seed === "mean" ? "mean" : null);
      row.dataset.seed = r.seed;
      for (const [key] of columns) {
        if (key === "seed") {
          const th = el("th", null, r.seed === "mean" ? "mean" : `seed ${r.seed}`);
          th.scope = "row";
          row.appendChild(th);
        } else {
          const text = key === "beats" ? `${Math.round(100 * r[key])}%` : pct(r[key]);
          const td = el("td", r[key] < 0 ? "num neg" : "num", text);
          td.dataset.key = key;
          row.appendChild(td);
        }
      }
      return row;
    }),
  );
}

// The failures table's columns: each policy's key in a seed's `failures`, and its header.
export const FAILURE_COLUMNS = [
  ["corrective", "Corrective"],
  ["preventative", "Preventative"],
  ["local_median", "Local (median)"],
  ["federated", "Federated"],
  ["centralized", "Centralized"],
];

// A count of failures: whole, or with the half a median of an even count can have.
export const count = (v) => (v != null && isFinite(v) ? String(Number(v.toFixed(1))) : "-");

// The decision the comparison used, in words.
export function decisionSentence(result) {
  return result.decision === "raw"
    ? "Decision: raw rule. A predictive strategy maintains when its model's prediction drops " +
        "below the threshold (no margin)."
    : "Decision: calibrated. A predictive strategy maintains when its model's prediction less " +
        "the model's margin (its 90% over-prediction late in life, measured on its training " +
        "engines) drops below the threshold.";
}

// The failures table's rows (and a mean row): seed, then each policy's failures.
export function failureRows(result) {
  const rows = result.seeds.map((s) => {
    const row = { seed: String(s.seed) };
    for (const [key] of FAILURE_COLUMNS) row[key] = s.failures ? (s.failures[key] ?? null) : null;
    return row;
  });
  const meanRow = { seed: "mean" };
  for (const [key] of FAILURE_COLUMNS) {
    meanRow[key] = mean(rows.map((r) => r[key]).filter((v) => v != null));
  }
  return [...rows, meanRow];
}

export function renderFailures(head, body, result) {
  const tr = el("tr");
  for (const [key, label] of [["seed", "Seed"], ...FAILURE_COLUMNS]) {
    const th = el("th", key === "seed" ? null : "num", label);
    th.scope = "col";
    tr.appendChild(th);
  }
  head.replaceChildren(tr);
  body.replaceChildren(
    ...failureRows(result).map((r) => {
      const row = el("tr", r.seed === "mean" ? "mean" : null);
      row.dataset.seed = r.seed;
      const th = el("th", null, r.seed === "mean" ? "mean" : `seed ${r.seed}`);
      th.scope = "row";
      row.appendChild(th);
      for (const [key] of FAILURE_COLUMNS) {
        const td = el("td", "num", count(r[key]));
        td.dataset.key = key;
        row.appendChild(td);
      }
      return row;
    }),
  );
}

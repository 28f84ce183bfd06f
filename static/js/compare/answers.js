// One question, two answers: the Compare view's own (draw seeds, the server's models trained once)
// beside the one the README and `tycoon compare` give (training seeds, every model retrained per
// seed), read from GET /api/compare/published (the published benchmark result). Never a number
// written here: both come from the server.

import { el, setText } from "../dom.js";
import { signed } from "./summary.js";

// The published answer, or {error} in words when the server has none.
export async function fetchPublished() {
  try {
    const response = await fetch("/api/compare/published", { cache: "no-store" });
    const body = await response.json();
    if (!response.ok) return { error: body.detail || `HTTP ${response.status}` };
    return body;
  } catch (exc) {
    return { error: `the server did not answer (${exc.message})` };
  }
}

// "0-4" for consecutive seeds, else "1, 3, 7".
export function seedList(seeds) {
  const consecutive = seeds.every((s, i) => i === 0 || s === seeds[i - 1] + 1);
  if (seeds.length > 2 && consecutive) return `${seeds[0]}–${seeds[seeds.length - 1]}`;
  return seeds.join(", ");
}

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

// The table's rows: this page's answer (when a result is in) and the published one.
export function answerRows(result, published, trainSeed) {
  const rows = [];
  if (result) {
    const seeds = result.seeds.map((s) => s.seed);
    rows.push({
      key: "draw",
      varies: `${plural(seeds.length, "draw seed")} (${seedList(seeds)}): which engines each factory draws, in what order`,
      models: `the same throughout: this server's, trained once with seed ${trainSeed}`,
      where: "this page",
      diff: result.federated_minus_local,
      share: result.share_federated_beats_local,
    });
  }
  const answer = published && !published.error && result && published.by_decision[result.decision];
  if (answer) {
    const seeds = published.training_seeds;
    rows.push({
      key: "training",
      varies: `${plural(seeds.length, "training seed")} (${seedList(seeds)}), each with draws seeded alike`,
      models: "retrained for every seed",
      where: "README, tycoon compare",
      diff: answer.federated_minus_local,
      share: answer.share_federated_beats_local,
    });
  }
  return rows;
}

// The sentence under the table: why the two differ, where the second comes from, and what of
// its settings differ from this page's.
export function answersNote(result, published) {
  const why =
    "Draw seeds keep the trained models fixed, so their interval covers only the luck of the " +
    "draw; training seeds retrain every model too, so theirs also covers the luck of training " +
    "(which engines each factory trained on, the networks' starting weights).";
  if (!published) return `${why} Loading the training-seed answer…`;
  if (published.error) return `${why} No training-seed answer on this server: ${published.error}.`;
  const decision = result ? result.decision : "calibrated";
  if (!published.by_decision[decision]) {
    return `${why} The published training-seed answer has no ${decision} decision.`;
  }
  const day = published.date.slice(0, 10);
  let text =
    `${why} The training-seed answer is the published benchmark's, ${published.source} of ${day} ` +
    `(${published.command}; ${published.model} models, ` +
    `${published.ticks.toLocaleString("en-US")} ticks per seed, ${decision} decision).`;
  if (result) {
    const unlike = [];
    if (result.model !== published.model) unlike.push(`${result.model} models here`);
    if (result.ticks !== published.ticks) {
      unlike.push(`${result.ticks.toLocaleString("en-US")} ticks per seed here`);
    }
    if (unlike.length) text += ` Not the same settings: ${unlike.join(", ")}.`;
  }
  return text;
}

export function renderAnswers(body, note, result, published, trainSeed) {
  body.replaceChildren(
    ...answerRows(result, published, trainSeed).map((r) => {
      const row = el("tr");
      row.dataset.answer = r.key;
      const th = el("th", null, r.varies);
      th.scope = "row";
      row.appendChild(th);
      const [lo, hi] = r.diff.ci95;
      const cells = [
        ["models", null, r.models],
        ["where", null, r.where],
        ["mean", "num", `${signed(r.diff.mean)} points`],
        ["interval", "num", `${signed(lo)} to ${signed(hi)}`],
        ["share", "num", `${Math.round(100 * r.share)}%`],
      ];
      for (const [key, cls, text] of cells) {
        const td = el("td", cls, text);
        td.dataset.key = key;
        row.appendChild(td);
      }
      return row;
    }),
  );
  setText(note, answersNote(result, published));
}

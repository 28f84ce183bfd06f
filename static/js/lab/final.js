// What the lab shows once a run finishes: the headline in words and dollars, the engine's notes
// verbatim, and the final model's figures (kept apart from app.js, which drives the run).

import { $, el, setHidden, setText } from "../dom.js";

const fmt = (v) => (v == null ? "-" : Number(v).toFixed(2));

// The run's headline in words: the errors that matter for maintenance and what the model earns
// in the game (as % of the oracle's profit, under the game's decision), or why the game cannot
// use it.
export function headline(final) {
  const errors =
    `late-life RMSE ${fmt(final.late_life_rmse)} cycles, capped RMSE ` +
    `${fmt(final.capped_rmse)}`;
  if (final.percent_of_oracle == null) {
    const why = final.not_deployed || "no % of the oracle was measured";
    return `${errors}; the game cannot use this model: ${why}.`;
  }
  const cal = final.calibration;
  const margin = cal ? String(Number(Number(cal.margin).toFixed(2))) : null;
  const rule = !cal
    ? ""
    : cal.decision === "raw"
      ? ` (raw rule: no margin; its margin would be ${margin} cycles)`
      : ` (calibrated decision: maintains when prediction − margin ${margin} < the threshold; ` +
        `margin from ${cal.rows} late-life cycles of the nodes' own engines)`;
  return (
    `${errors}; in the game it earns ${Number(final.percent_of_oracle).toFixed(1)}% of the ` +
    `oracle's profit${rule}.`
  );
}

// The engine's sentences for the user (e.g. what secure aggregation cannot screen), verbatim.
export function showNotes(notes) {
  const list = $("lab-notes");
  list.replaceChildren(...notes.map((note) => el("li", null, note)));
  setHidden(list, notes.length === 0);
}

// The headline, the notes and the final figures of a run that played `rounds` rounds.
export function showFinal(final, rounds) {
  const head = $("lab-headline");
  setText(head, `After ${final.rounds_done ?? rounds} rounds: ${headline(final)}`);
  head.dataset.deployable = final.percent_of_oracle == null ? "false" : "true";
  setHidden(head, false);
  showNotes(final.notes || []);
  let text =
    `Final global model: test RMSE ${fmt(final.rmse)} cycles, late-life RMSE ` +
    `${fmt(final.late_life_rmse)}.`;
  if (final.epsilon != null) {
    text += ` Privacy: (ε ${fmt(final.epsilon)}, δ ${Number(final.delta).toPrecision(2)}).`;
  }
  if (final.stopped) text += ` Stopped after round ${final.rounds_done}: ${final.stopped}.`;
  const people = final.personalized || [];
  if (people.length) {
    const med = (key) => {
      const v = people.map((p) => p[key]).sort((a, b) => a - b);
      return v[Math.floor(v.length / 2)];
    };
    text +=
      ` Per factory (median of ${people.length}): federated ${fmt(med("federated_rmse"))}, ` +
      `personalized ${fmt(med("personalized_rmse"))}, local ${fmt(med("local_rmse"))}.`;
  }
  setText($("lab-final"), text);
}

// The decision rule on screen: the strategy chart's legend (each prediction's lower bound,
// "prediction - margin N", or "raw rule") and the sentence of "How to play" that says when a
// predictive strategy maintains. Both follow `state.margins` (docs/protocol.md): the player's
// own local model's margin and the federated model's (which a model deployed from the lab
// changes).

import { $, setHidden, setText } from "../dom.js";
import { changed, playerMargins, playerOf } from "../store.js";

// A margin as the legend writes it: at most two decimals, no trailing zeros (4.75, 11, 0.25).
export function marginText(v) {
  return v == null || !isFinite(v) ? "-" : String(Number(v.toFixed(2)));
}

export function mountRule(store) {
  const { game } = store;
  const localBound = $("lg-local-bound");
  const fedBound = $("lg-fed-bound");
  const raw = $("lg-raw");
  const rule = $("decision-rule");
  let fresh = true; // a new game: draw whatever the margins are

  store.subscribe("snapshot", () => {
    fresh = true;
  });

  store.subscribe("render", ({ stateChanged, prev }) => {
    if (!stateChanged) return;
    const state = game.state;
    const pick = (s) => s.margins;
    if (!fresh && !changed(prev, state, pick) && !changed(prev, state, (s) => playerOf(s).node)) {
      return;
    }
    fresh = false;
    const m = playerMargins(state);
    const threshold = game.config.rul_threshold;
    const calibrated = m.decision === "calibrated";
    setHidden(localBound, !calibrated);
    setHidden(fedBound, !calibrated);
    setHidden(raw, calibrated);
    if (calibrated) {
      setText(localBound, `local lower bound (prediction − margin ${marginText(m.local)})`);
      setText(fedBound, `federated lower bound (prediction − margin ${marginText(m.federated)})`);
      setText(
        rule,
        `A predictive strategy maintains an engine when its model's prediction less the ` +
          `model's margin (the dashed lower bound) drops below the threshold. The margin is ` +
          `how far the model over-predicted, at the 90% level, in the last 30 cycles of its ` +
          `training engines: ${marginText(m.federated)} cycles for the federated model, ` +
          `${marginText(m.local)} for your local model, which has only your factory's four ` +
          `engines to calibrate on, so its margin is a guess from very little data.`,
      );
    } else {
      setText(raw, `raw rule: maintain when a prediction < ${threshold} (no margin)`);
      setText(
        rule,
        `A predictive strategy maintains an engine when its model's predicted RUL drops below ` +
          `the threshold (the raw rule: no calibration margin).`,
      );
    }
  });
}

// Profit over time: one line per factory, and a text alternative that follows the latest
// profits (at most once a second).

import { destroyChart } from "../charts/core.js";
import { profitChart } from "../charts/plots.js";
import { $, setAttr, throttle } from "../dom.js";
import { money } from "../format.js";

const LABEL_MS = 1000;

export function mountProfit(store) {
  const { game } = store;
  const box = $("profit-chart");
  let chart = null;

  store.subscribe("snapshot", () => {
    const names = game.history.names;
    destroyChart(chart);
    chart = profitChart(box, names, game.player.name);
  });

  const updateLabel = throttle(() => {
    const state = game.state;
    const parts = state.factories.map((f) => `${f.name} ${money(f.profit)}`);
    setAttr(box, "aria-label", `Profit over time, tick ${state.tick}: ${parts.join(", ")}.`);
  }, LABEL_MS);

  store.subscribe("render", ({ stateChanged, historyChanged }) => {
    if (historyChanged && chart) chart.setData([game.history.tick, ...game.history.series]);
    if (stateChanged) updateLabel();
  });
}

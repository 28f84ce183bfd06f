// Profit over time: one line per factory and, once the player has chosen federated, its
// stay-local ghost (dashed); a legend, the line saying what federated has earned against the
// ghost, and a text alternative that follows the latest profits (at most once a second).

import { FACTORY_COLORS, destroyChart } from "../charts/core.js";
import { profitChart } from "../charts/plots.js";
import { $, el, setAttr, setHidden, setText, throttle } from "../dom.js";
import { ghostSentence, money } from "../format.js";

const LABEL_MS = 1000;

export function mountProfit(store) {
  const { game } = store;
  const box = $("profit-chart");
  const legend = $("profit-legend");
  const gain = $("ghost-gain");
  let chart = null;
  let ghostItem = null;
  let shownGhost; // the ghost drawn last (undefined: none drawn yet for this game)

  function buildLegend(names) {
    const items = names.map((name, i) => {
      const li = el("li", "lg-factory");
      const swatch = el("span", "lg-swatch");
      swatch.style.borderColor = FACTORY_COLORS[i % FACTORY_COLORS.length];
      const you = name === game.player.name;
      li.append(swatch, document.createTextNode(you ? `${name} (you)` : name));
      return li;
    });
    ghostItem = el("li", "lg-factory lg-ghost");
    ghostItem.dataset.testid = "legend-ghost";
    const swatch = el("span", "lg-swatch lg-dashed");
    const playerIndex = Math.max(0, names.indexOf(game.player.name));
    swatch.style.borderColor = FACTORY_COLORS[playerIndex % FACTORY_COLORS.length];
    ghostItem.append(swatch, el("span", "lg-ghost-text"));
    ghostItem.hidden = true;
    legend.replaceChildren(...items, ghostItem);
  }

  store.subscribe("snapshot", () => {
    const names = game.history.names;
    destroyChart(chart);
    chart = profitChart(box, names, game.player.name);
    buildLegend(names);
    shownGhost = undefined;
  });

  const updateLabel = throttle(() => {
    const state = game.state;
    const parts = state.factories.map((f) => `${f.name} ${money(f.profit)}`);
    const ghost = state.ghost ? `; ${state.ghost.name}: ${money(state.ghost.profit)}` : "";
    setAttr(box, "aria-label", `Profit over time, tick ${state.tick}: ${parts.join(", ")}${ghost}.`);
  }, LABEL_MS);

  store.subscribe("render", ({ stateChanged, historyChanged }) => {
    if (historyChanged && chart) {
      const h = game.history;
      chart.setData([h.tick, ...h.series, h.ghost]);
    }
    if (!stateChanged) return;
    updateLabel();
    const ghost = game.state.ghost;
    if (ghost === shownGhost) return;
    shownGhost = ghost;
    setHidden(gain, !ghost);
    if (ghost) {
      setText(gain, ghostSentence(ghost));
      setAttr(gain, "data-sign", ghost.federated_gain < 0 ? "negative" : "positive");
    }
    if (ghostItem) {
      setHidden(ghostItem, !ghost);
      if (ghost) {
        setText(ghostItem.lastChild, `${ghost.name} (dashed, from tick ${ghost.since_tick})`);
      }
    }
  });

  return { chart: () => chart };
}

// Profit over time: one line per factory and, once the player has chosen federated, its
// stay-local ghost (dashed); a legend, the line saying what federated has earned against the
// ghost (and why the ghost's local is not a competitor's), and a text alternative that follows
// the latest profits (at most once a second). Hovering the chart shows each line's profit at
// that tick in the legend.

import { FACTORY_COLORS, destroyChart } from "../charts/core.js";
import { profitChart } from "../charts/plots.js";
import { $, el, setAttr, setHidden, setText, throttle } from "../dom.js";
import { dollars, ghostNote, ghostSentence, money } from "../format.js";

const LABEL_MS = 1000;

export function mountProfit(store) {
  const { game } = store;
  const box = $("profit-chart");
  const legend = $("profit-legend");
  const gain = $("ghost-gain");
  const note = $("ghost-note");
  let chart = null;
  let ghostItem = null;
  let hoverTick = null; // the legend's "tick N" item, shown while the cursor is on the chart
  let values = []; // the legend's value per series (factories, then the ghost)
  let shownGhost; // the ghost drawn last (undefined: none drawn yet for this game)
  let shownNote = "";

  function valueSpan(i) {
    const span = el("span", "lg-value");
    span.dataset.testid = `legend-value-${i}`;
    values.push(span);
    return span;
  }

  function buildLegend(names) {
    values = [];
    hoverTick = el("li", "lg-hover-tick");
    hoverTick.dataset.testid = "profit-hover-tick";
    hoverTick.hidden = true;
    const items = names.map((name, i) => {
      const li = el("li", "lg-factory");
      const swatch = el("span", "lg-swatch");
      swatch.style.borderColor = FACTORY_COLORS[i % FACTORY_COLORS.length];
      const you = name === game.player.name;
      li.append(swatch, document.createTextNode(you ? `${name} (you)` : name), valueSpan(i));
      return li;
    });
    ghostItem = el("li", "lg-factory lg-ghost");
    ghostItem.dataset.testid = "legend-ghost";
    const swatch = el("span", "lg-swatch lg-dashed");
    const playerIndex = Math.max(0, names.indexOf(game.player.name));
    swatch.style.borderColor = FACTORY_COLORS[playerIndex % FACTORY_COLORS.length];
    ghostItem.append(swatch, el("span", "lg-ghost-text"), valueSpan(names.length));
    ghostItem.hidden = true;
    legend.replaceChildren(hoverTick, ...items, ghostItem);
  }

  // The cursor moved over the chart (idx: the point under it, null when it left).
  function hover(idx, u) {
    const on = idx != null && u.data[0][idx] != null;
    setHidden(hoverTick, !on);
    if (on) setText(hoverTick, `tick ${u.data[0][idx]}:`);
    values.forEach((span, i) => {
      const v = on ? u.data[i + 1][idx] : null;
      setText(span, v == null ? "" : ` ${dollars(v)}`);
    });
  }

  store.subscribe("snapshot", () => {
    const names = game.history.names;
    destroyChart(chart);
    buildLegend(names);
    chart = profitChart(box, names, game.player.name, hover);
    shownGhost = undefined;
    shownNote = "";
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
    // The note names the competitors on local: it follows their strategies too.
    const noteText = ghost ? ghostNote(ghost, game.state.factories) : "";
    if (noteText !== shownNote) {
      shownNote = noteText;
      setText(note, noteText);
      setHidden(note, !ghost);
    }
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
        const text = `${ghost.name} (dashed, from tick ${ghost.since_tick}; your own local model)`;
        setText(ghostItem.querySelector(".lg-ghost-text"), text);
      }
    }
  });

  return { chart: () => chart };
}

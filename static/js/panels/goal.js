// The season's finish line on the first screen: the sentence that says what wins ("The first
// factory to reach $3,000,000 in profit wins the season.", then who won and when) and one bar per
// factory showing how far its profit has come to the goal (a progressbar, with the figures in
// words). Every ".goal-amount" on the page (the help's too) shows the goal of the game shown.

import { FACTORY_COLORS } from "../charts/core.js";
import { $, el, setAttr, setText, slug } from "../dom.js";
import { dollars } from "../format.js";
import { changed } from "../store.js";

// The share of the goal as the bar's label writes it: 0.1% steps below 10%, whole percents above.
export function percentText(share) {
  const pct = Math.max(0, Math.min(1, share)) * 100;
  return pct < 10 ? `${(Math.floor(pct * 10) / 10).toFixed(1)}%` : `${Math.floor(pct)}%`;
}

export function mountGoal(store) {
  const { game } = store;
  const line = $("season-goal");
  const list = $("race");
  let rows = new Map(); // factory name -> {li, bar, fill, pct}
  let fresh = true;

  function build(state) {
    rows = new Map();
    const items = state.factories.map((f, i) => {
      const li = el("li", f.is_player ? "race-row player" : "race-row");
      li.dataset.testid = `race-${slug(f.name)}`;
      const bar = el("span", "race-bar");
      bar.dataset.testid = `race-bar-${slug(f.name)}`;
      bar.setAttribute("role", "progressbar");
      bar.setAttribute("aria-valuemin", "0");
      bar.setAttribute("aria-valuemax", "100");
      bar.setAttribute("aria-label", `${f.name}: profit toward the season's goal`);
      const fill = el("span", "race-fill");
      fill.style.background = FACTORY_COLORS[i % FACTORY_COLORS.length];
      bar.appendChild(fill);
      const pct = el("span", "race-pct");
      pct.dataset.testid = `race-pct-${slug(f.name)}`;
      li.append(el("span", "race-name", f.is_player ? `${f.name} (you)` : f.name), bar, pct);
      rows.set(f.name, { li, bar, fill, pct, width: "" });
      return li;
    });
    list.replaceChildren(...items);
  }

  function sentence(state) {
    const s = state.season;
    const goal = el("b", "goal-amount", dollars(s.goal));
    if (!s.winner) {
      line.replaceChildren("The first factory to reach ", goal, " in profit wins the season.");
      return;
    }
    const who = s.winner === game.player.name ? "You" : s.winner;
    const at = s.finished_tick ?? state.tick;
    line.replaceChildren(`${who} reached `, goal, ` first, at tick ${at}, and won the season.`);
  }

  store.subscribe("snapshot", () => {
    const state = game.state;
    for (const node of document.querySelectorAll(".goal-amount")) {
      setText(node, dollars(state.season.goal));
    }
    build(state);
    fresh = true;
  });

  store.subscribe("render", ({ stateChanged, prev }) => {
    if (!stateChanged) return;
    const state = game.state;
    const seasonChanged = fresh || changed(prev, state, (s) => s.season);
    if (!seasonChanged && !changed(prev, state, (s) => s.factories)) return;
    fresh = false;
    if (seasonChanged) sentence(state);
    const goal = state.season.goal;
    for (const f of state.factories) {
      const r = rows.get(f.name);
      if (!r) continue;
      const share = Math.max(0, Math.min(1, f.profit / goal));
      const width = `${(share * 100).toFixed(2)}%`;
      if (r.width !== width) {
        r.width = width;
        r.fill.style.width = width;
      }
      const text = percentText(share);
      setText(r.pct, text);
      setAttr(r.bar, "aria-valuenow", (share * 100).toFixed(1));
      setAttr(r.bar, "aria-valuetext", `${dollars(f.profit)} of ${dollars(goal)} (${text})`);
      setAttr(r.li, "title", `${f.name}: ${dollars(f.profit)} of ${dollars(goal)} (${text})`);
    }
  });
}

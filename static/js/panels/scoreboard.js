// The scoreboard: rank, factory (and its node in the federation), strategy, profit, active
// cycles, maintenances, failures. Rows are sorted by profit, highest first; ties share a rank.

import { FACTORY_COLORS } from "../charts/core.js";
import { $, el, setAttr, setText, slug } from "../dom.js";
import { dollars } from "../format.js";
import { changed, ranked, strategyLabel } from "../store.js";

// On a phone all seven columns must fit: figures of a million and more are shortened there.
const NARROW = "(max-width: 600px)";

function figure(v, narrow, money) {
  if (narrow && Math.abs(v) >= 1e6) {
    const s = (Math.abs(v) / 1e6).toFixed(2) + "M";
    return (v < 0 ? "-" : "") + (money ? "$" : "") + s;
  }
  return money ? dollars(v) : v.toLocaleString("en-US");
}

export function mountScoreboard(store) {
  const { game } = store;
  const body = $("scoreboard-body");
  let rows = new Map(); // factory name -> cells
  let shownOrder = ""; // the row order in the table, as names
  const narrow = window.matchMedia(NARROW);
  let force = false;
  narrow.addEventListener("change", () => {
    force = true;
    store.schedule();
  });

  function build(state) {
    body.replaceChildren();
    rows = new Map();
    shownOrder = "";
    state.factories.forEach((f, i) => {
      const tr = document.createElement("tr");
      const s = slug(f.name);
      tr.dataset.testid = `factory-${s}`;
      tr.dataset.factory = f.name;
      if (f.is_player) tr.className = "player";
      const cell = (cls, testid) => {
        const td = el("td", cls);
        if (testid) td.dataset.testid = `${testid}-${s}`;
        tr.appendChild(td);
        return td;
      };
      const rank = cell("rank");
      const name = el("th", "fname");
      name.scope = "row";
      const swatch = el("span", "swatch");
      swatch.style.background = FACTORY_COLORS[i % FACTORY_COLORS.length];
      name.append(swatch, document.createTextNode(f.is_player ? `${f.name} (you)` : f.name));
      const node = el("span", "fnode");
      node.dataset.testid = `node-${s}`;
      name.appendChild(node);
      tr.appendChild(name);
      rank.dataset.testid = `rank-${s}`;
      rows.set(f.name, {
        tr,
        node,
        rank,
        strat: cell("strat", "strategy"),
        prof: cell("num", "profit"),
        cyc: cell("num", "cycles"),
        mnt: cell("num", "maintenances"),
        fl: cell("num", "failures"),
      });
      body.appendChild(tr);
    });
  }

  store.subscribe("snapshot", () => build(game.state));

  store.subscribe("render", ({ stateChanged, prev }) => {
    // Only when a factory changed (a frame can change the clock, the events, ... alone).
    const factoriesChanged = stateChanged && changed(prev, game.state, (s) => s.factories);
    if (!factoriesChanged && !force) return;
    force = false;
    const small = narrow.matches;
    const state = game.state;
    const order = ranked(state.factories);
    const names = order.map((o) => o.factory.name).join("\n");
    if (names !== shownOrder) {
      // Moved only when the order changes (rarely), so a tick usually touches only figures.
      shownOrder = names;
      for (const o of order) {
        const r = rows.get(o.factory.name);
        if (r) body.appendChild(r.tr);
      }
    }
    for (const { factory: f, rank } of order) {
      const r = rows.get(f.name);
      if (!r) continue;
      setText(r.rank, rank);
      setText(r.node, `node ${f.node}`);
      setAttr(r.node, "title", `Its local model learned from node ${f.node}'s engines only`);
      setText(r.strat, strategyLabel(game, f.strategy).replace(/ predictive$/i, ""));
      setText(r.prof, figure(f.profit, small, true));
      setAttr(r.prof, "class", f.profit < 0 ? "num neg" : "num");
      setText(r.cyc, figure(f.active_cycles, small, false));
      setText(r.mnt, f.maintenances);
      setText(r.fl, f.failures);
    }
  });
}

// The scoreboard: rank, factory, strategy, profit, active cycles, maintenances, failures.

import { FACTORY_COLORS } from "../charts/core.js";
import { $, el, setAttr, setText, slug } from "../dom.js";
import { dollars } from "../format.js";
import { strategyLabel } from "../store.js";

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
  const narrow = window.matchMedia(NARROW);
  let force = false;
  narrow.addEventListener("change", () => {
    force = true;
    store.schedule();
  });

  function build(state) {
    body.replaceChildren();
    rows = new Map();
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
      tr.appendChild(name);
      rows.set(f.name, {
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

  store.subscribe("render", ({ stateChanged }) => {
    if (!stateChanged && !force) return;
    force = false;
    const small = narrow.matches;
    const state = game.state;
    const order = [...state.factories].sort((a, b) => b.profit - a.profit);
    const rankOf = new Map(order.map((f, i) => [f.name, i + 1]));
    for (const f of state.factories) {
      const r = rows.get(f.name);
      if (!r) continue;
      setText(r.rank, rankOf.get(f.name));
      setText(r.strat, strategyLabel(game, f.strategy).replace(/ predictive$/i, ""));
      setText(r.prof, figure(f.profit, small, true));
      setAttr(r.prof, "class", f.profit < 0 ? "num neg" : "num");
      setText(r.cyc, figure(f.active_cycles, small, false));
      setText(r.mnt, f.maintenances);
      setText(r.fl, f.failures);
    }
  });
}

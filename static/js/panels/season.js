// The finish line: when a factory first reaches the season's goal the server pauses the game,
// and this results dialog shows the winner, the ranking, the player's stay-local ghost and a
// link to the Compare view. It opens once per season (a game: a new snapshot starts one);
// "Keep playing" resumes, Escape or "Close" only closes it.

import { $, el, setText } from "../dom.js";
import { dollars } from "../format.js";
import { ranked, strategyLabel } from "../store.js";

export function mountSeason(store, send) {
  const { game } = store;
  const dialog = $("season-dialog");
  const title = $("season-title");
  const summary = $("season-summary");
  const body = $("season-ranking");
  const ghostLine = $("season-ghost");
  const compare = $("season-compare");
  const keep = $("season-keep");
  let season = 0; // bumped per snapshot: a new game is a new season
  let shownSeason = -1;
  let returnFocus = null;

  store.subscribe("snapshot", () => {
    season += 1;
    if (dialog.open) close();
  });

  store.subscribe("render", ({ stateChanged }) => {
    if (!stateChanged) return;
    const s = game.state.season;
    if (s && s.winner && shownSeason !== season) {
      shownSeason = season;
      open(game.state);
    }
  });

  function open(state) {
    const s = state.season;
    const player = game.player;
    const won = s.winner === player.name;
    setText(title, won ? "You win the season!" : `${s.winner} wins the season`);
    const tick = s.finished_tick ?? state.tick;
    setText(
      summary,
      `${s.winner} reached ${dollars(s.goal)} first, at tick ${tick}.` +
        (state.running ? "" : " The game is paused."),
    );
    const rows = ranked(state.factories).map(({ factory: f, rank }) => {
      const tr = el("tr", f.is_player ? "player" : null);
      const name = el("th", null, f.is_player ? `${f.name} (you)` : f.name);
      name.scope = "row";
      const profit = el("td", f.profit < 0 ? "num neg" : "num", dollars(f.profit));
      const strategy = el("td", "strat", strategyLabel(game, f.strategy));
      tr.append(el("td", "rank", rank), name, strategy, profit);
      return tr;
    });
    body.replaceChildren(...rows);
    const g = state.ghost;
    ghostLine.hidden = !g;
    if (g) {
      const gain = Math.round(g.federated_gain);
      const verdict =
        gain === 0
          ? "federated earned you as much"
          : `federated earned you ${dollars(Math.abs(gain))} ${gain > 0 ? "more" : "less"}`;
      setText(
        ghostLine,
        `Had you stayed on your own local model (node ${g.node}) since tick ${g.since_tick}, ` +
          `you would have ${dollars(g.profit)}: ${verdict}.`,
      );
    }
    compare.href = `/compare?node=${player.node}`;
    returnFocus = document.activeElement;
    dialog.showModal();
    keep.focus();
  }

  function close() {
    if (dialog.open) dialog.close();
  }

  dialog.addEventListener("close", () => {
    const target = returnFocus;
    returnFocus = null;
    if (target && target !== document.body && target.isConnected) target.focus();
  });
  // Tab and Shift+Tab cycle through the dialog's controls (the page behind it is inert).
  dialog.addEventListener("keydown", (e) => {
    if (e.key !== "Tab") return;
    const items = [...dialog.querySelectorAll("a[href], button, input, select")].filter(
      (x) => !x.disabled && x.checkVisibility(),
    );
    if (!items.length) return;
    const first = items[0];
    const last = items[items.length - 1];
    if (e.shiftKey && document.activeElement === first) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  });
  keep.addEventListener("click", () => {
    close();
    send({ type: "resume" });
  });
  $("season-close").addEventListener("click", close);

  return { isOpen: () => dialog.open };
}

// The speed tip under the top bar: at a slow speed, early in a game, it says how long a season
// takes at this speed and offers 10x and 50x (buttons, reachable with Tab). It goes away for
// good (remembered in localStorage) once the player picks a speed of FAST or more, here or in
// the speed box, or dismisses it; it hides while the game is paused or the connection is down.

import { $, setHidden, setText } from "../dom.js";
import { dollars } from "../format.js";

const KEY = "tycoon.speedTip";
const FAST = 10; // ticks per second from which the tip has nothing to add
const YOUNG = 1000; // ticks: the tip is for a game's start, not for a resumed season

function remembered() {
  try {
    return localStorage.getItem(KEY) === "done";
  } catch {
    return false;
  }
}

// A season's shortest length in ticks (every slot earning every tick, nothing ever lost), and
// what it takes at `tps` ticks per second, in words.
export function seasonWords(goal, revenuePerCycle, nSlots, tps) {
  const ticks = Math.ceil(goal / Math.max(1e-9, revenuePerCycle * nSlots));
  const minutes = Math.round(ticks / tps / 60);
  const time = minutes >= 2 ? `${minutes} minutes` : `${Math.round(ticks / tps)} seconds`;
  return { ticks, time };
}

export function mountSpeedHint(store, send) {
  const { game } = store;
  const box = $("speed-hint");
  const text = $("speed-hint-text");
  let done = remembered();

  function finish() {
    done = true;
    try {
      localStorage.setItem(KEY, "done");
    } catch {
      // private mode: the tip is remembered for this page only
    }
    setHidden(box, true);
  }

  for (const button of box.querySelectorAll("[data-speed]")) {
    button.addEventListener("click", () => {
      send({ type: "set_speed", ticks_per_second: Number(button.dataset.speed) });
      finish();
    });
  }
  $("speed-hint-close").addEventListener("click", finish);

  function update() {
    const state = game.state;
    if (done || !state || !game.config) return;
    const tps = state.ticks_per_second;
    if (state.running && tps >= FAST) {
      finish(); // the player found the speed control
      return;
    }
    const live = game.connection.state === "open";
    const show = live && state.running && tps > 0 && state.tick < YOUNG;
    setHidden(box, !show);
    if (!show) return;
    const cfg = game.config;
    const goal = state.season.goal;
    const { ticks, time } = seasonWords(goal, cfg.revenue_per_cycle, cfg.n_slots, tps);
    setText(
      text,
      `Tip: at ${tps}x an engine lasts minutes, and reaching ${dollars(goal)} takes at least ` +
        `${ticks.toLocaleString("en-US")} ticks (${time} at this speed). Speed it up:`,
    );
  }

  store.subscribe("render", ({ stateChanged }) => {
    if (stateChanged) update();
  });
  store.subscribe("connection", () => {
    if (game.connection.state !== "open") setHidden(box, true);
    else update();
  });
}

// The top bar: tick and seed readouts, and the game controls (pause / resume, step, speed,
// seed and "New game", random seed, free play), with keyboard shortcuts.
//
// The game is saved on the server and resumes on a reload: "New game" (id reset-btn) is how a
// player starts over. It sends a reset with the seed in the box (empty: the current seed);
// Enter in the seed box does the same, "Random seed" starts one with a random seed.

import { $, setAttr, setHidden, setText } from "../dom.js";

const MAX_SEED = 2 ** 32 - 1;
const SEED_MESSAGE = "Seed must be a whole number from 0 to 4294967295.";
const HOLD_MS = 1500;
const STEP_WAIT_MS = 3000;

// The seed typed in the box: {seed} (null when empty: the server reuses the current seed) or
// {error}.
export function parseSeed(raw) {
  const text = String(raw).trim();
  if (text === "") return { seed: null };
  if (!/^\d+$/.test(text)) return { error: SEED_MESSAGE };
  const seed = Number(text);
  if (!Number.isSafeInteger(seed) || seed > MAX_SEED) return { error: SEED_MESSAGE };
  return { seed };
}

export function randomSeed() {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

export function mountControls(store, send) {
  const { game } = store;
  const pauseBtn = $("pause-btn");
  const stepBtn = $("step-btn");
  const speed = $("speed");
  const seedInput = $("seed-input");
  const seedError = $("seed-error");
  const freePlay = $("free-play");

  // A control the user just changed keeps the user's value until the server confirms it (or
  // HOLD_MS pass), so a frame drawn from an older state does not flip it back.
  const pending = new Map();
  const hold = (key, value) => pending.set(key, { value, until: performance.now() + HOLD_MS });
  const held = (key, serverValue) => {
    const p = pending.get(key);
    if (!p) return false;
    if (p.value === serverValue || performance.now() > p.until) {
      pending.delete(key);
      return false;
    }
    return true;
  };

  // Step pauses first: while running, it asks for a pause and plays its tick once the server
  // confirms the pause (so exactly one tick per press follows the paused state).
  let stepsAfterPause = 0;
  let stepDeadline = 0;
  function step() {
    if (game.state && game.state.running) {
      if (stepsAfterPause === 0) send({ type: "pause" });
      stepsAfterPause += 1;
      stepDeadline = performance.now() + STEP_WAIT_MS;
    } else {
      send({ type: "step" });
    }
  }
  store.subscribe("state", (state) => {
    if (stepsAfterPause === 0) return;
    if (!state.running) {
      for (; stepsAfterPause > 0; stepsAfterPause--) send({ type: "step" });
    } else if (performance.now() > stepDeadline) {
      stepsAfterPause = 0; // the pause never came (e.g. the connection dropped)
    }
  });
  store.subscribe("snapshot", () => {
    stepsAfterPause = 0;
  });

  function showSeedError(message) {
    setText(seedError, message || "");
    setHidden(seedError, !message);
    setAttr(seedInput, "aria-invalid", message ? "true" : false);
  }

  function reset(seed) {
    showSeedError(null);
    send(seed == null ? { type: "reset" } : { type: "reset", seed });
  }

  function resetFromInput() {
    const parsed = parseSeed(seedInput.value);
    if (parsed.error) {
      showSeedError(parsed.error);
      return;
    }
    reset(parsed.seed);
  }

  pauseBtn.addEventListener("click", () => {
    send({ type: game.state && game.state.running ? "pause" : "resume" });
  });
  stepBtn.addEventListener("click", step);
  speed.addEventListener("change", () => {
    hold("speed", speed.value);
    send({ type: "set_speed", ticks_per_second: Number(speed.value) });
  });
  seedInput.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      resetFromInput();
    }
  });
  seedInput.addEventListener("input", () => showSeedError(null));
  $("reset-btn").addEventListener("click", resetFromInput);
  $("random-seed-btn").addEventListener("click", () => {
    const seed = randomSeed();
    seedInput.value = String(seed);
    reset(seed);
  });
  freePlay.addEventListener("change", () => {
    hold("free_play", freePlay.checked);
    send({ type: "free_play", enabled: freePlay.checked });
  });

  // Keyboard: space pauses / resumes, "." steps (outside controls and text fields).
  document.addEventListener("keydown", (e) => {
    if (e.target !== document.body || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === " ") {
      e.preventDefault();
      pauseBtn.click();
    } else if (e.key === ".") {
      step();
    }
  });

  store.subscribe("snapshot", ({ configChanged }) => {
    if (!configChanged) return;
    const max = game.config.max_ticks_per_second ?? 50;
    for (const opt of [...speed.options]) if (Number(opt.value) > max) opt.remove();
  });

  // The speed readout: the server's speed while connected; offline no tick comes, whatever the
  // last state said.
  const readout = $("speed-readout");
  function showSpeed() {
    const state = game.state;
    if (!state) return;
    const tps = state.ticks_per_second;
    const live = game.connection.state === "open";
    const text = !live ? "❚❚ offline" : state.running && tps > 0 ? `▶ ${tps}x` : "❚❚ paused";
    setText(readout, text);
    setAttr(readout, "data-state", !live ? "offline" : state.running ? "running" : "paused");
  }
  store.subscribe("connection", showSpeed);

  store.subscribe("render", ({ stateChanged }) => {
    if (!stateChanged) return;
    const state = game.state;
    setText($("tick"), state.tick);
    // The Compare view marks the player's factory: its node changes with the seed.
    setAttr($("compare-link"), "href", `/compare?node=${game.player.node}`);
    setText($("seed"), state.seed);
    showSpeed();
    setText(pauseBtn, state.running ? "Pause" : "Resume");
    setAttr(pauseBtn, "aria-pressed", state.running ? "false" : "true");
    const want = String(state.running ? state.ticks_per_second : 0);
    if (!held("speed", want)) {
      if (![...speed.options].some((o) => o.value === want)) {
        const opt = document.createElement("option");
        opt.value = want;
        opt.textContent = `${want}x`;
        speed.appendChild(opt);
      }
      if (speed.value !== want) speed.value = want;
    }
    if (!held("free_play", state.free_play) && freePlay.checked !== state.free_play) {
      freePlay.checked = state.free_play;
    }
    if (seedInput.placeholder !== String(state.seed)) seedInput.placeholder = String(state.seed);
  });
}

// The dashboard's single source of truth. The connection feeds it every frame; panels
// subscribe to it and never see the websocket.
//
// Frames are *ingested* as they arrive (the latest GameState kept, profit points appended to the
// history, "state" listeners told of every state so per-tick buffers miss nothing), and the page
// is *rendered* at most once per animation frame: "render" listeners draw only the latest state.
//
// Events (subscribe(name, fn) returns an unsubscribe function):
//   snapshot(info)   a snapshot was ingested: build views. info = {configChanged, modelsChanged}
//   state(state)     every ingested state, in order (cheap work only: buffers, not DOM)
//   render(info)     once per animation frame with something new: {stateChanged, historyChanged}
//   error(message)   the server refused a command
//   connection(s)    the connection's status: {state: "connecting" | "open" | "closed", ...}

const HISTORY_CAP = 4000; // profit points kept; older ones are thinned out 2:1

export function createStore() {
  const game = {
    config: null,
    models: null,
    strategies: new Map(), // name -> StrategyView
    state: null, // latest GameState
    player: null, // the player's FactoryView in `state`
    // {names: [], tick: [], series: [[profit per tick] per factory], ghost: [ghost's profit or null]}
    history: null,
    connection: { state: "connecting" },
    stateVersion: 0, // bumped per ingested state
  };
  // Exposed for tests and for curious players (read-only use).
  const stats = {
    frames: 0,
    renders: 0,
    ticks: 0,
    snapshots: 0,
    errors: [],
    renderMs: [],
    lastRenderMs: 0,
  };
  const listeners = { snapshot: [], state: [], render: [], error: [], connection: [] };
  let renderedVersion = -1;
  let historyDirty = false;
  let rafPending = false;

  function subscribe(event, fn) {
    const list = listeners[event];
    if (!list) throw new Error(`store: no event ${event}`);
    list.push(fn);
    return () => list.splice(list.indexOf(fn), 1);
  }

  function emit(event, arg) {
    for (const fn of listeners[event]) fn(arg);
  }

  // ---------------------------------------------------------------- ingest

  function ingest(msg) {
    switch (msg.type) {
      case "snapshot":
        ingestSnapshot(msg);
        break;
      case "tick":
        ingestTick(msg);
        break;
      case "error":
        stats.errors.push(msg.message);
        emit("error", msg.message);
        break;
      default:
        console.warn("tycoon: unknown frame type", msg.type);
    }
  }

  function ingestSnapshot(msg) {
    stats.snapshots += 1;
    const configChanged = !game.config || JSON.stringify(game.config) !== JSON.stringify(msg.config);
    const modelsChanged = !game.models || JSON.stringify(game.models) !== JSON.stringify(msg.models);
    game.config = msg.config;
    game.models = msg.models;
    game.strategies = new Map(msg.config.strategies.map((s) => [s.name, s]));
    setState(msg.state);
    const names = msg.state.factories.map((f) => f.name);
    const tick = (msg.history?.tick || []).slice();
    const ghost = msg.history?.ghost || [];
    game.history = {
      names,
      tick,
      series: names.map((n) => (msg.history?.profit?.[n] || []).slice()),
      ghost: tick.map((_, i) => ghost[i] ?? null),
    };
    while (game.history.tick.length > HISTORY_CAP) thinHistory(game.history);
    anchorGhost(game.history, msg.state);
    historyDirty = true;
    emit("snapshot", { configChanged, modelsChanged });
    emit("state", msg.state);
    schedule();
  }

  function ingestTick(msg) {
    stats.ticks += 1;
    const h = game.history;
    const p = msg.history_point;
    if (h && p) {
      const last = h.tick.length ? h.tick[h.tick.length - 1] : -Infinity;
      if (p.tick > last) {
        h.tick.push(p.tick);
        h.names.forEach((name, i) => h.series[i].push(p.profit[name] ?? null));
        h.ghost.push(p.ghost ?? null);
        if (h.tick.length > HISTORY_CAP) thinHistory(h);
        anchorGhost(h, msg.state);
        historyDirty = true;
      }
    }
    setState(msg.state);
    emit("state", msg.state);
    schedule();
  }

  function setState(state) {
    game.state = state;
    game.player = state.factories.find((f) => f.is_player) || state.factories[0];
    game.stateVersion += 1;
  }

  function setConnection(status) {
    game.connection = status;
    emit("connection", status);
  }

  // ---------------------------------------------------------------- render (once per frame)

  function schedule() {
    if (!rafPending) {
      rafPending = true;
      requestAnimationFrame(frame);
    }
  }

  function frame() {
    rafPending = false;
    stats.frames += 1;
    if (!game.state || !game.config) return;
    const t0 = performance.now();
    const stateChanged = renderedVersion !== game.stateVersion;
    renderedVersion = game.stateVersion;
    const historyChanged = historyDirty;
    historyDirty = false;
    if (stateChanged) stats.renders += 1;
    emit("render", { stateChanged, historyChanged });
    const dt = performance.now() - t0;
    stats.lastRenderMs = dt;
    stats.renderMs.push(dt);
    if (stats.renderMs.length > 240) stats.renderMs.shift();
  }

  return { game, stats, subscribe, ingest, setConnection, schedule };
}

// The ghost is the player's factory as it stood at `since_tick`: its line starts from the
// player's profit there (the tick's history point was recorded before the ghost existed).
function anchorGhost(h, state) {
  const ghost = state.ghost;
  if (!ghost || h.anchoredAt === ghost.since_tick) return;
  h.anchoredAt = ghost.since_tick;
  const i = h.tick.lastIndexOf(ghost.since_tick);
  const p = state.factories.findIndex((f) => f.is_player);
  if (i >= 0 && p >= 0 && h.ghost[i] == null) h.ghost[i] = h.series[p][i];
}

function thinHistory(h) {
  // Keep every other point, and always the latest one.
  const keep = (arr) => arr.filter((_, i) => i % 2 === 0 || i === arr.length - 1);
  h.tick = keep(h.tick);
  h.series = h.series.map(keep);
  h.ghost = keep(h.ghost);
}

// Helpers for panels.
export function strategyLabel(game, name) {
  const s = game.strategies.get(name);
  return s ? s.label : name;
}

// Factories by profit, highest first, with competition ranks: ties share a rank (1, 2, 2, 4).
// Equal profits keep the server's order (the player first).
export function ranked(factories) {
  const order = factories
    .map((f, i) => ({ f, i }))
    .sort((a, b) => b.f.profit - a.f.profit || a.i - b.i);
  let rank = 0;
  return order.map(({ f, i }, k) => {
    if (k === 0 || f.profit !== order[k - 1].f.profit) rank = k + 1;
    return { factory: f, index: i, rank };
  });
}

// The dashboard's single source of truth. The connection feeds it every frame; panels
// subscribe to it and never see the websocket.
//
// Frames (docs/protocol.md) are *ingested* as they arrive: a snapshot starts a game (or, as a
// keyframe of the game already shown, refreshes it), a delta's patch turns the latest GameState
// into the next one (a new object; the parts the patch did not reach stay the same objects, so
// panels can tell what changed by identity) and its profit points are appended to the history;
// "state" listeners are told of every state so per-tick buffers miss nothing. The page is
// *rendered* at most once per animation frame: "render" listeners draw only the latest state,
// then the frames drawn are acknowledged (`ack(seq)`).
//
// Events (subscribe(name, fn) returns an unsubscribe function):
//   snapshot(info)   a new game on the page: build views. info = {configChanged, modelsChanged}
//   session(info)    a connection's first snapshot (or one with a notice): the saved game's id,
//                    whether it was resumed, the server's notice. {sessionId, resumed, notice, tick}
//   state(state)     every ingested state that differs from the last, in order (cheap work only)
//   render(info)     once per animation frame with something new:
//                    {stateChanged, historyChanged, prev} (prev: the state drawn last time)
//   error(message)   the server refused a command
//   saving(info)     {saved: false, message} on a "not_saved" error frame (it lasts until:),
//                    {saved: true, message} on the "saved" notice, or message null on reconnect
//   connection(s)    the connection's status: {state: "connecting" | "open" | "closed", ...}

import { patched, reuse } from "./delta.js";
import { appendPoints, historyFrom } from "./history.js";

export const ERRORS_KEPT = 50; // the latest refusals kept in stats.errors
const ACK_AFTER = 4; // frames ingested before an ack is sent at once
const ACK_EVERY_MS = 200; // otherwise frames drawn are acknowledged this often (acks cost the server)

export function createStore({ ack = () => {}, resync = () => {} } = {}) {
  const game = {
    config: null,
    models: null,
    strategies: new Map(), // name -> StrategyView
    state: null, // latest GameState
    player: null, // the player's FactoryView in `state`
    history: null, // see history.js
    sessionId: null, // the saved game's id (the latest snapshot's session_id)
    seq: 0, // the highest frame number ingested on this connection
    connection: { state: "connecting" },
    stateVersion: 0, // bumped per ingested state that changed
    notSaved: null, // the server's words while the game is not being saved, else null
  };
  // Exposed for tests and for curious players (read-only use).
  const stats = {
    frames: 0, // animation frames with a state
    renders: 0, // animation frames that drew a changed state
    ticks: 0, // profit points ingested
    snapshots: 0, // every snapshot (keyframes too)
    games: 0, // snapshots that started a game on the page (see "snapshot" above)
    deltas: 0,
    acks: 0,
    errors: [], // the latest ERRORS_KEPT refusals
    renderMs: [],
    lastRenderMs: 0,
  };
  const listeners = { snapshot: [], session: [], state: [], render: [], error: [], connection: [], saving: [] };
  let renderedVersion = -1;
  let renderedState = null;
  let historyDirty = false;
  let rafPending = false;
  let acked = 0; // the highest seq acknowledged on this connection
  let ackedAt = 0; // when (performance.now()) it was
  let resetPending = false; // a reset was sent: the next snapshot is a new game

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
      case "delta":
        ingestDelta(msg);
        break;
      case "error":
        if (msg.code === "not_saved") setSaving(false, String(msg.message));
        else ingestError(String(msg.message));
        break;
      case "notice": // "saved" is the only one so far
        if (msg.code === "saved") setSaving(true, String(msg.message));
        break;
      default:
        console.warn("tycoon: unknown frame type", msg.type);
    }
  }

  function ingestError(message) {
    stats.errors.push(message);
    if (stats.errors.length > ERRORS_KEPT) stats.errors.splice(0, stats.errors.length - ERRORS_KEPT);
    emit("error", message);
  }

  function setSaving(saved, message) {
    game.notSaved = saved ? null : message;
    emit("saving", { saved, message });
  }

  // A frame's number: acknowledged once drawn, or at once when several wait (no animation
  // frames in a background tab). Frames without one (made up by tests) are not acknowledged.
  function noteSeq(msg) {
    if (!Number.isInteger(msg.seq)) return;
    game.seq = Math.max(game.seq, msg.seq);
    if (game.seq - acked >= ACK_AFTER) sendAck();
  }

  function sendAck() {
    if (game.seq <= acked) return;
    acked = game.seq;
    ackedAt = performance.now();
    stats.acks += 1;
    ack(acked);
  }

  function ingestSnapshot(msg) {
    stats.snapshots += 1;
    const configChanged = !game.config || JSON.stringify(game.config) !== JSON.stringify(msg.config);
    const modelsChanged = !game.models || JSON.stringify(game.models) !== JSON.stringify(msg.models);
    const firstOfConnection = game.seq === 0;
    if (firstOfConnection && game.notSaved !== null) setSaving(true, null);
    const idChanged = !!msg.session_id && msg.session_id !== game.sessionId;
    const old = game.state;
    const newGame =
      !old ||
      resetPending ||
      configChanged ||
      modelsChanged ||
      msg.session_id !== game.sessionId ||
      msg.state.seed !== old.seed ||
      msg.state.tick < old.tick;
    resetPending = false;
    noteSeq(msg);
    if (msg.session_id) game.sessionId = msg.session_id;
    if (!newGame) {
      // A keyframe (or a reconnect to the game shown): the same objects where nothing changed.
      const state = reuse(old, msg.state);
      const appended = appendPoints(game.history, msg.history, state);
      historyDirty ||= appended;
      if (state !== old) {
        setState(state);
        emit("state", state);
      }
      if (firstOfConnection) emitSession(msg);
      schedule();
      return;
    }
    stats.games += 1;
    game.config = msg.config;
    game.models = msg.models;
    game.strategies = new Map(msg.config.strategies.map((s) => [s.name, s]));
    setState(msg.state);
    game.history = historyFrom(msg.history, msg.state);
    historyDirty = true;
    emit("snapshot", { configChanged, modelsChanged });
    emit("state", msg.state);
    if (firstOfConnection || idChanged || msg.notice) emitSession(msg);
    schedule();
  }

  function emitSession(msg) {
    emit("session", {
      sessionId: game.sessionId,
      resumed: !!msg.resumed,
      notice: msg.notice || null,
      tick: game.state.tick,
    });
  }

  function ingestDelta(msg) {
    if (!game.state) {
      console.warn("tycoon: a delta before any snapshot");
      return;
    }
    if (Number.isInteger(msg.seq) && game.seq && msg.seq !== game.seq + 1) {
      // A patch applies to the frame before it only: start over from a fresh snapshot.
      console.warn(`tycoon: frame ${msg.seq} after ${game.seq}; reconnecting`);
      resync();
      return;
    }
    stats.deltas += 1;
    noteSeq(msg);
    const state = patched(game.state, msg.patch || {});
    if (game.history) {
      const before = game.history.tick.length;
      historyDirty ||= appendPoints(game.history, msg.points, state);
      stats.ticks += Math.max(0, game.history.tick.length - before);
    }
    if (state !== game.state) {
      setState(state);
      emit("state", state);
    }
    schedule();
  }

  function setState(state) {
    game.state = state;
    game.player = state.factories.find((f) => f.is_player) || state.factories[0];
    game.stateVersion += 1;
  }

  function setConnection(status) {
    if (status.state !== "open") {
      // Frame numbers and acknowledgements are per connection.
      game.seq = 0;
      acked = 0;
    }
    game.connection = status;
    emit("connection", status);
  }

  // The next snapshot starts a new game (the page asked for one).
  function expectNewGame() {
    resetPending = true;
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
    if (!game.state || !game.config) {
      ackDrawn();
      return;
    }
    stats.frames += 1;
    const t0 = performance.now();
    const stateChanged = renderedVersion !== game.stateVersion;
    renderedVersion = game.stateVersion;
    const historyChanged = historyDirty;
    historyDirty = false;
    const prev = renderedState;
    renderedState = game.state;
    if (stateChanged) stats.renders += 1;
    emit("render", { stateChanged, historyChanged, prev });
    const dt = performance.now() - t0;
    stats.lastRenderMs = dt;
    stats.renderMs.push(dt);
    if (stats.renderMs.length > 240) stats.renderMs.shift();
    ackDrawn();
  }

  function ackDrawn() {
    if (performance.now() - ackedAt >= ACK_EVERY_MS) sendAck();
  }

  return { game, stats, subscribe, ingest, setConnection, expectNewGame, schedule };
}

// Whether `pick` of the state differs from `pick` of the state drawn before (`prev`, null at
// first): a cheap test for a panel that draws only part of the state.
export function changed(prev, state, pick) {
  return !prev || pick(prev) !== pick(state);
}

// The player's factory in a state.
export function playerOf(state) {
  return state.factories.find((f) => f.is_player) || state.factories[0];
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

// What the game's decision subtracts from the player's two predictions before comparing them
// with the RUL threshold (docs/protocol.md, `state.margins`): {decision, local, federated}, the
// player's own local model's margin and the federated model's. Under the raw decision (or
// before the server sent margins) both are null: there is no lower bound to draw.
export function playerMargins(state) {
  const m = state && state.margins;
  if (!m || m.decision !== "calibrated") {
    return { decision: m ? m.decision : null, local: null, federated: null };
  }
  const local = m.local ? m.local[String(playerOf(state).node)] : null;
  return {
    decision: m.decision,
    local: local != null && isFinite(local) ? local : null,
    federated: m.federated != null && isFinite(m.federated) ? m.federated : null,
  };
}

// A prediction less a margin, to 0.01 cycle (predictions come rounded to 0.01); null when
// either is missing.
export function lowerBound(prediction, margin) {
  if (prediction == null || margin == null) return null;
  return Math.round((prediction - margin) * 100) / 100;
}

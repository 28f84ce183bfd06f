// Turbofan Tycoon dashboard.
//
// Data flow: websocket frames are *ingested* as they arrive (sensor and RUL values appended to
// per-slot buffers, profit points to the history buffers, the latest GameState kept), and the
// page is *rendered* at most once per animation frame: only the latest state is drawn, and each
// chart gets one setData per frame. At 50 ticks/s this keeps 4 slots x 17 charts near 60 fps.

import { GameConnection } from "./connection.js";
import {
  COLORS,
  FACTORY_COLORS,
  curveChart,
  destroyChart,
  money,
  profitChart,
  SensorGrid,
  strategyChart,
} from "./charts.js";

const SENSOR_WINDOW = 100; // cycles of the current engine kept in each sensor chart
const ENGINE_CAP = 2000; // cycles kept in a strategy chart (longer than any engine)
const HISTORY_CAP = 4000; // profit points kept; older ones are thinned out 2:1
const SPEEDS = [1, 2, 5, 10, 20, 50];

// C-MAPSS channel names: symbol and meaning, for the sensor chart labels.
const CHANNELS = {
  setting_1: ["alt", "Operational setting 1 (altitude)"],
  setting_2: ["Mach", "Operational setting 2 (Mach number)"],
  setting_3: ["TRA", "Operational setting 3 (throttle resolver angle)"],
  sensor_1: ["T2", "Total temperature at fan inlet (°R)"],
  sensor_2: ["T24", "Total temperature at LPC outlet (°R)"],
  sensor_3: ["T30", "Total temperature at HPC outlet (°R)"],
  sensor_4: ["T50", "Total temperature at LPT outlet (°R)"],
  sensor_5: ["P2", "Pressure at fan inlet (psia)"],
  sensor_6: ["P15", "Total pressure in bypass duct (psia)"],
  sensor_7: ["P30", "Total pressure at HPC outlet (psia)"],
  sensor_8: ["Nf", "Physical fan speed (rpm)"],
  sensor_9: ["Nc", "Physical core speed (rpm)"],
  sensor_10: ["epr", "Engine pressure ratio (P50/P2)"],
  sensor_11: ["Ps30", "Static pressure at HPC outlet (psia)"],
  sensor_12: ["phi", "Ratio of fuel flow to Ps30 (pps/psi)"],
  sensor_13: ["NRf", "Corrected fan speed (rpm)"],
  sensor_14: ["NRc", "Corrected core speed (rpm)"],
  sensor_15: ["BPR", "Bypass ratio"],
  sensor_16: ["farB", "Burner fuel-air ratio"],
  sensor_17: ["htBleed", "Bleed enthalpy"],
  sensor_18: ["Nf_dmd", "Demanded fan speed (rpm)"],
  sensor_19: ["PCNfR_dmd", "Demanded corrected fan speed (rpm)"],
  sensor_20: ["W31", "HPT coolant bleed (lbm/s)"],
  sensor_21: ["W32", "LPT coolant bleed (lbm/s)"],
};

const $ = (id) => document.getElementById(id);

const LOCK_SVG =
  '<svg viewBox="0 0 12 12" width="11" height="11" aria-hidden="true"><rect x="2" y="5.5" width="8" height="6" rx="1" fill="currentColor"/><path d="M4 5.5V4a2 2 0 0 1 4 0v1.5" stroke="currentColor" fill="none" stroke-width="1.3"/></svg>';

// ------------------------------------------------------------------ state

const game = {
  config: null,
  models: null,
  state: null, // latest GameState
  stateVersion: 0, // bumped per ingested state
  renderedVersion: -1,
  player: null, // the player's FactoryView in `state`
  strategies: new Map(), // name -> StrategyView
  slots: [], // per player slot: buffers + DOM + charts
  history: null, // {tick: [], profit: {name: []}, names: []}
  historyDirty: false,
  eventsKey: "",
};

// Exposed for tests and for curious players (read-only use).
const stats = { frames: 0, renders: 0, ticks: 0, snapshots: 0, errors: [], renderMs: [], lastRenderMs: 0 };
window.__tycoon = { game, stats, connection: null };

// ------------------------------------------------------------------ helpers

function setText(el, value) {
  const s = String(value);
  if (el.__text !== s) {
    el.__text = s;
    el.textContent = s;
  }
}

function setAttr(el, name, value) {
  const key = "__attr_" + name;
  if (el[key] !== value) {
    el[key] = value;
    if (value === null || value === false) el.removeAttribute(name);
    else el.setAttribute(name, value === true ? "" : value);
  }
}

// A control the user just changed keeps the user's value until the server confirms it (or 1.5 s
// pass), so a frame drawn from an older state does not flip it back.
const pending = new Map();
function hold(key, value) {
  pending.set(key, { value, until: performance.now() + 1500 });
}
function held(key, serverValue) {
  const p = pending.get(key);
  if (!p) return false;
  if (p.value === serverValue || performance.now() > p.until) {
    pending.delete(key);
    return false;
  }
  return true;
}

function setHidden(el, hidden) {
  if (el.__hidden !== hidden) {
    el.__hidden = hidden;
    el.hidden = hidden;
  }
}

function slug(name) {
  return String(name).toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
}

function dollars(v) {
  const sign = v < 0 ? "-" : "";
  return sign + "$" + Math.abs(Math.round(v)).toLocaleString("en-US");
}

function strategyLabel(name) {
  const s = game.strategies.get(name);
  return s ? s.label : name;
}

function toast(message) {
  const el = document.createElement("div");
  el.className = "toast";
  el.dataset.testid = "error-toast";
  el.textContent = message;
  $("toasts").appendChild(el);
  setTimeout(() => el.remove(), 5000);
  while ($("toasts").childElementCount > 4) $("toasts").firstElementChild.remove();
}

// ------------------------------------------------------------------ connection

const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/game`;
const conn = new GameConnection(wsUrl, { onMessage, onStatus });
window.__tycoon.connection = conn;
let bannerTimer = null;

function onStatus(s) {
  const pill = $("conn");
  pill.dataset.state = s.state;
  const banner = $("banner");
  clearInterval(bannerTimer);
  if (s.state === "open") {
    pill.textContent = "live";
    banner.hidden = true;
    return;
  }
  if (s.state === "connecting") {
    pill.textContent = "connecting";
    if (!banner.hidden) banner.textContent = "Connection lost. Reconnecting now…";
    return;
  }
  pill.textContent = "offline";
  banner.hidden = false;
  const update = () => {
    const secs = Math.max(0, (s.retryAt - Date.now()) / 1000);
    banner.textContent = `Connection to the game server lost. Reconnecting in ${secs.toFixed(1)} s (attempt ${s.attempt})…`;
  };
  update();
  bannerTimer = setInterval(update, 200);
}

function send(command) {
  if (!conn.send(command)) toast("Not connected to the game server: the command was not sent.");
}

function onMessage(msg) {
  switch (msg.type) {
    case "snapshot":
      ingestSnapshot(msg);
      break;
    case "tick":
      ingestTick(msg);
      break;
    case "error":
      stats.errors.push(msg.message);
      toast(msg.message);
      break;
    default:
      console.warn("tycoon: unknown frame type", msg.type);
  }
}

// ------------------------------------------------------------------ ingest (per frame received)

function ingestSnapshot(msg) {
  stats.snapshots += 1;
  const firstOrNewConfig =
    !game.config || JSON.stringify(game.config) !== JSON.stringify(msg.config);
  game.config = msg.config;
  game.strategies = new Map(msg.config.strategies.map((s) => [s.name, s]));
  const playerSlots = (msg.state.factories.find((f) => f.is_player) || msg.state.factories[0]).slots.length;
  if (firstOrNewConfig || game.slots.length !== playerSlots) {
    buildConfigViews();
    buildSlots(playerSlots);
  }
  for (const slot of game.slots) clearSlot(slot);
  if (!game.models || JSON.stringify(game.models) !== JSON.stringify(msg.models)) {
    game.models = msg.models;
    buildModels();
  }
  buildFactories(msg.state, msg.history);
  game.eventsKey = "";
  ingestState(msg.state);
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
      if (h.tick.length > HISTORY_CAP) thinHistory(h);
      game.historyDirty = true;
    }
  }
  ingestState(msg.state);
}

function thinHistory(h) {
  // Keep every other point, and always the latest one.
  const keep = (arr) => arr.filter((_, i) => i % 2 === 0 || i === arr.length - 1);
  h.tick = keep(h.tick);
  h.series = h.series.map(keep);
}

function ingestState(state) {
  game.state = state;
  game.player = state.factories.find((f) => f.is_player) || state.factories[0];
  game.stateVersion += 1;
  const slots = game.player.slots;
  for (let i = 0; i < game.slots.length && i < slots.length; i++) appendSlot(game.slots[i], slots[i]);
  schedule();
}

function clearSlot(slot) {
  slot.engineId = null;
  slot.lastCycle = -1;
  slot.sx.length = 0;
  for (const ys of slot.sy) ys.length = 0;
  slot.cx.length = 0;
  slot.cycle.length = 0;
  slot.local.length = 0;
  slot.fed.length = 0;
  slot.dirty = true;
}

function appendSlot(slot, view) {
  if (view.engine_id !== slot.engineId || view.cycle < slot.lastCycle) {
    clearSlot(slot);
    slot.engineId = view.engine_id;
  }
  slot.view = view;
  if (view.cycle <= slot.lastCycle || view.cycle < 1 || !view.sensors || view.sensors.length === 0) return;
  slot.lastCycle = view.cycle;
  slot.sx.push(view.cycle);
  for (let k = 0; k < slot.sy.length; k++) slot.sy[k].push(view.sensors[k] ?? null);
  if (slot.sx.length > SENSOR_WINDOW) {
    slot.sx.shift();
    for (const ys of slot.sy) ys.shift();
  }
  slot.cx.push(view.cycle);
  slot.cycle.push(view.cycle);
  slot.local.push(view.local_rul);
  slot.fed.push(view.federated_rul);
  if (slot.cx.length > ENGINE_CAP) {
    slot.cx.shift();
    slot.cycle.shift();
    slot.local.shift();
    slot.fed.shift();
  }
  slot.dirty = true;
}

// ------------------------------------------------------------------ build (on snapshot)

function buildConfigViews() {
  const cfg = game.config;
  // Strategy buttons.
  const box = $("strategy-buttons");
  box.replaceChildren();
  for (const s of cfg.strategies) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "btn strategy-btn";
    b.dataset.strategy = s.name;
    b.dataset.testid = `strategy-btn-${s.name}`;
    b.id = `strategy-btn-${s.name}`;
    b.setAttribute("aria-pressed", "false");
    const label = document.createElement("span");
    label.textContent = s.label;
    const lock = document.createElement("span");
    lock.className = "lock";
    lock.innerHTML = LOCK_SVG;
    lock.hidden = true;
    b.append(lock, label);
    b.__lock = lock;
    b.addEventListener("click", () => send({ type: "set_strategy", strategy: s.name }));
    box.appendChild(b);
  }
  // Unlock rules and figures in the help text.
  const rules = $("unlock-rules");
  rules.replaceChildren(
    ...cfg.unlock_rules.map((r) => {
      const li = document.createElement("li");
      li.textContent = r;
      return li;
    }),
  );
  setText($("rev"), dollars(cfg.revenue_per_cycle));
  setText($("fail"), dollars(cfg.failure_cost));
  setText($("fail-down"), cfg.failure_downtime);
  setText($("maint"), dollars(cfg.maintenance_cost));
  setText($("maint-down"), cfg.maintenance_downtime);
  setText($("prev-cycle"), cfg.preventative_cycle);
  setText($("rul-thr"), cfg.rul_threshold);
  // Speeds up to the server's maximum.
  const sel = $("speed");
  const max = cfg.max_ticks_per_second ?? 50;
  for (const opt of [...sel.options]) if (Number(opt.value) > max) opt.remove();
}

function buildSlots(n) {
  for (const slot of game.slots) {
    destroyChart(slot.strategyChart);
    destroyChart(slot.sensors);
  }
  const container = $("slots");
  container.replaceChildren();
  game.slots = [];
  const tpl = $("slot-template");
  const names = game.config.feature_names;
  for (let i = 0; i < n; i++) {
    const node = tpl.content.firstElementChild.cloneNode(true);
    node.dataset.testid = `slot-${i}`;
    node.id = `slot-${i}`;
    const q = (sel) => node.querySelector(sel);
    q(".slot-name").textContent = `Slot ${i + 1}`;
    q(".slot-engine").dataset.testid = `slot-engine-${i}`;
    q(".slot-cycle").dataset.testid = `slot-cycle-${i}`;
    q(".slot-status").dataset.testid = `slot-status-${i}`;
    container.appendChild(node);
    const slot = {
      index: i,
      node,
      engineEl: q(".slot-engine"),
      cycleEl: q(".slot-cycle"),
      statusEl: q(".slot-status"),
      overlayEl: q(".slot-overlay"),
      engineId: null,
      lastCycle: -1,
      view: null,
      sx: [],
      sy: names.map(() => []),
      cx: [],
      cycle: [],
      local: [],
      fed: [],
      dirty: true,
    };
    // Charts are created after the node is in the document, so they can size themselves.
    const labels = names.map((fname) => {
      const [symbol, desc] = CHANNELS[fname] || [fname, fname];
      return { symbol, title: `${fname}: ${desc}` };
    });
    slot.sensors = new SensorGrid(q(".sensors"), labels, SENSOR_WINDOW);
    slot.strategyChart = strategyChart(q(".strategy-chart"), thresholds);
    game.slots.push(slot);
  }
}

function thresholds() {
  const cfg = game.config;
  return {
    preventative: cfg ? cfg.preventative_cycle : null,
    rul: cfg ? cfg.rul_threshold : null,
    emphasis: game.player ? game.player.strategy : null,
  };
}

let curve = null;
function buildModels() {
  const m = game.models;
  const rows = [
    ["naive", "Naive", m.naive_rmse, "#8893a2"],
    ["centralized", "Centralized", m.centralized_rmse, "#b48cff"],
    ["local", "Local", m.local_rmse, COLORS.local],
    ["federated", "Federated", m.federated_rmse, COLORS.fed],
  ];
  const max = Math.max(...rows.map((r) => r[2]).filter((v) => isFinite(v)), 1);
  const box = $("rmse");
  box.replaceChildren();
  for (const [key, label, value, color] of rows) {
    const name = document.createElement("div");
    name.className = "name";
    name.textContent = label;
    const bar = document.createElement("div");
    bar.className = "bar";
    const fill = document.createElement("span");
    fill.style.width = `${Math.max(2, (100 * value) / max)}%`;
    fill.style.background = color;
    bar.appendChild(fill);
    const val = document.createElement("div");
    val.className = "val";
    val.dataset.testid = `rmse-${key}`;
    val.textContent = isFinite(value) ? value.toFixed(1) : "-";
    box.append(name, bar, val);
  }
  destroyChart(curve);
  curve = curveChart($("curve-chart"), m.federated_curve || [], [
    { label: "local", value: m.local_rmse, color: COLORS.local },
    { label: "centralized", value: m.centralized_rmse, color: "#b48cff" },
  ]);
}

let profit = null;
let scoreRows = new Map(); // factory name -> row elements

function buildFactories(state, history) {
  const names = state.factories.map((f) => f.name);
  const player = (state.factories.find((f) => f.is_player) || state.factories[0]).name;
  // Scoreboard rows.
  const body = $("scoreboard-body");
  body.replaceChildren();
  scoreRows = new Map();
  state.factories.forEach((f, i) => {
    const tr = document.createElement("tr");
    const s = slug(f.name);
    tr.dataset.testid = `factory-${s}`;
    tr.dataset.factory = f.name;
    if (f.is_player) tr.className = "player";
    const cell = (cls) => {
      const td = document.createElement("td");
      if (cls) td.className = cls;
      tr.appendChild(td);
      return td;
    };
    const rank = cell("rank");
    const nameTd = cell("fname");
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = FACTORY_COLORS[i % FACTORY_COLORS.length];
    nameTd.append(sw, document.createTextNode(f.is_player ? `${f.name} (you)` : f.name));
    const strat = cell("strat");
    strat.dataset.testid = `strategy-${s}`;
    const prof = cell("num");
    prof.dataset.testid = `profit-${s}`;
    const cyc = cell("num");
    cyc.dataset.testid = `cycles-${s}`;
    const mnt = cell("num");
    mnt.dataset.testid = `maintenances-${s}`;
    const fl = cell("num");
    fl.dataset.testid = `failures-${s}`;
    body.appendChild(tr);
    scoreRows.set(f.name, { tr, rank, strat, prof, cyc, mnt, fl });
  });
  // Profit history.
  game.history = {
    names,
    tick: (history?.tick || []).slice(),
    series: names.map((n) => (history?.profit?.[n] || []).slice()),
  };
  while (game.history.tick.length > HISTORY_CAP) thinHistory(game.history);
  destroyChart(profit);
  profit = profitChart($("profit-chart"), names, player);
  game.historyDirty = true;
}

// ------------------------------------------------------------------ render (once per frame)

let rafPending = false;
function schedule() {
  if (!rafPending) {
    rafPending = true;
    requestAnimationFrame(frame);
  }
}

function frame() {
  rafPending = false;
  stats.frames += 1;
  const t0 = performance.now();
  render();
  const dt = performance.now() - t0;
  stats.lastRenderMs = dt;
  stats.renderMs.push(dt);
  if (stats.renderMs.length > 240) stats.renderMs.shift();
}

function render() {
  const state = game.state;
  if (!state || !game.config) return;
  const newState = game.renderedVersion !== game.stateVersion;
  game.renderedVersion = game.stateVersion;
  if (newState) {
    stats.renders += 1;
    renderHeader(state);
    renderControls(state);
    renderScoreboard(state);
    renderEvents(state);
  }
  for (const slot of game.slots) {
    if (newState && slot.view) renderSlotHead(slot, slot.view);
    if (slot.dirty) {
      slot.dirty = false;
      slot.strategyChart.setData([slot.cx, slot.cycle, slot.local, slot.fed]);
      slot.sensors.setData(slot.sx, slot.sy);
    }
  }
  if (game.historyDirty && profit) {
    game.historyDirty = false;
    profit.setData([game.history.tick, ...game.history.series]);
  }
}

function renderHeader(state) {
  setText($("tick"), state.tick);
  setText($("seed"), state.seed);
  const tps = state.ticks_per_second;
  setText($("speed-readout"), state.running && tps > 0 ? `▶ ${tps}x` : `❚❚ paused`);
}

function renderControls(state) {
  const player = game.player;
  const unlocked = new Set(state.unlocked);
  const allowed = new Set(player.allowed_strategies || state.unlocked);
  for (const b of $("strategy-buttons").children) {
    const name = b.dataset.strategy;
    const info = game.strategies.get(name);
    const open = unlocked.has(name) && allowed.has(name);
    setAttr(b, "disabled", !open);
    setAttr(b, "aria-pressed", player.strategy === name ? "true" : "false");
    setAttr(b, "title", open ? info.description : `Locked. ${info.unlock_hint}`);
    setHidden(b.__lock, open);
  }
  const current = game.strategies.get(player.strategy);
  const locked = game.config.strategies.filter((s) => !unlocked.has(s.name));
  let note = current ? `${current.label}: ${current.description}` : "";
  if (locked.length && !state.free_play) note += `  Next unlock: ${locked[0].unlock_hint}`;
  setText($("strategy-note"), note);

  setHidden($("hire-btn"), !state.offers.hire_data_scientist);
  setHidden($("federation-btn"), !state.offers.federation);

  setText($("pause-btn"), state.running ? "Pause" : "Resume");
  setAttr($("pause-btn"), "aria-pressed", state.running ? "false" : "true");
  const sel = $("speed");
  const want = String(state.running ? state.ticks_per_second : 0);
  if (document.activeElement !== sel && !held("speed", want)) {
    if (![...sel.options].some((o) => o.value === want)) {
      const opt = document.createElement("option");
      opt.value = want;
      opt.textContent = `${want}x`;
      sel.appendChild(opt);
    }
    if (sel.value !== want) sel.value = want;
  }
  const fp = $("free-play");
  if (!held("free_play", state.free_play) && fp.checked !== state.free_play) fp.checked = state.free_play;
  const seedInput = $("seed-input");
  if (document.activeElement !== seedInput && seedInput.placeholder !== String(state.seed)) {
    seedInput.placeholder = String(state.seed);
  }
}

function renderScoreboard(state) {
  const order = [...state.factories].sort((a, b) => b.profit - a.profit);
  const rankOf = new Map(order.map((f, i) => [f.name, i + 1]));
  for (const f of state.factories) {
    const r = scoreRows.get(f.name);
    if (!r) continue;
    setText(r.rank, rankOf.get(f.name));
    setText(r.strat, strategyLabel(f.strategy).replace(/ predictive$/i, ""));
    setText(r.prof, dollars(f.profit));
    setAttr(r.prof, "class", f.profit < 0 ? "num neg" : "num");
    setText(r.cyc, f.active_cycles.toLocaleString("en-US"));
    setText(r.mnt, f.maintenances);
    setText(r.fl, f.failures);
  }
}

function renderEvents(state) {
  const ev = state.events || [];
  const last = ev[ev.length - 1];
  const key = `${ev.length}:${last ? `${last.tick}|${last.message}` : ""}`;
  if (key === game.eventsKey) return;
  game.eventsKey = key;
  const list = $("events");
  const items = ev.slice(-40).reverse().map((e) => {
    const li = document.createElement("li");
    li.className = e.kind;
    const t = document.createElement("span");
    t.className = "t";
    t.textContent = e.tick;
    const m = document.createElement("span");
    m.className = "m";
    const who = e.factory && e.factory !== game.player.name ? `${e.factory}: ` : "";
    const where = e.slot != null ? `slot ${e.slot + 1} · ` : "";
    m.textContent = `${who}${where}${e.message}`;
    li.append(t, m);
    return li;
  });
  if (!items.length) {
    const li = document.createElement("li");
    li.className = "empty";
    li.textContent = "No events yet.";
    items.push(li);
  }
  list.replaceChildren(...items);
}

function renderSlotHead(slot, v) {
  setAttr(slot.node, "data-status", v.status);
  setText(slot.engineEl, v.engine_id);
  setText(slot.cycleEl, `cycle ${v.cycle}`);
  const label =
    v.status === "running" ? "running" : v.status === "maintenance" ? `maintenance · ${v.downtime_left}` : `down · ${v.downtime_left}`;
  setText(slot.statusEl, label);
  if (v.status !== "running") {
    setText(
      slot.overlayEl,
      v.status === "maintenance"
        ? `In maintenance: ${v.downtime_left} cycles left`
        : `Engine failed: down ${v.downtime_left} cycles`,
    );
  }
}

// ------------------------------------------------------------------ controls

$("pause-btn").addEventListener("click", () => {
  const s = game.state;
  send({ type: s && s.running ? "pause" : "resume" });
});
$("step-btn").addEventListener("click", () => send({ type: "step" }));
$("speed").addEventListener("change", (e) => {
  hold("speed", e.target.value);
  send({ type: "set_speed", ticks_per_second: Number(e.target.value) });
  e.target.blur();
});
$("reset-btn").addEventListener("click", () => {
  const raw = $("seed-input").value.trim();
  const cmd = { type: "reset" };
  if (raw !== "") {
    const seed = Number(raw);
    if (!Number.isInteger(seed) || seed < 0) {
      toast("The seed must be a whole number, 0 or more.");
      return;
    }
    cmd.seed = seed;
  }
  send(cmd);
});
$("free-play").addEventListener("change", (e) => {
  hold("free_play", e.target.checked);
  send({ type: "free_play", enabled: e.target.checked });
});
$("hire-btn").addEventListener("click", () => send({ type: "hire_data_scientist" }));
$("federation-btn").addEventListener("click", () => send({ type: "accept_federation" }));

// Keyboard: space pauses / resumes, "." steps (outside text fields).
document.addEventListener("keydown", (e) => {
  if (e.target !== document.body || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === " ") {
    e.preventDefault();
    $("pause-btn").click();
  } else if (e.key === ".") {
    send({ type: "step" });
  }
});

conn.connect();

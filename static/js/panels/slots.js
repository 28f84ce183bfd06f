// The player's slots: per slot a header (engine, cycle, status), the strategy chart (cycle and
// predicted RUL against the thresholds, with each prediction's lower bound: the prediction less
// its model's calibration margin, what the calibrated decision compares with the threshold) and
// the 16 sensor sparklines.
//
// Every state is appended to per-slot buffers as it arrives (so no cycle is lost between two
// animation frames); each chart gets one setData per frame, only when its slot changed.

import { SensorGrid } from "../charts/sensor-grid.js";
import { destroyChart } from "../charts/core.js";
import { strategyChart } from "../charts/plots.js";
import { $, setAttr, setText, throttle } from "../dom.js";
import { formatValue } from "../format.js";
import { lowerBound, playerMargins } from "../store.js";

const SENSOR_WINDOW = 100; // cycles of the current engine kept in each sensor chart
const ENGINE_CAP = 2000; // cycles kept in a strategy chart (longer than any engine)
const LABEL_MS = 1000; // text alternatives of the charts follow the data at most once a second

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

export function mountSlots(store) {
  const { game } = store;
  const container = $("slots");
  const tpl = $("slot-template");
  let slots = [];
  let labels = [];

  const thresholds = () => ({
    preventative: game.config ? game.config.preventative_cycle : null,
    rul: game.config ? game.config.rul_threshold : null,
    emphasis: game.player ? game.player.strategy : null,
  });

  function build(n) {
    for (const slot of slots) {
      destroyChart(slot.strategyChart);
      destroyChart(slot.sensors);
    }
    container.replaceChildren();
    labels = game.config.feature_names.map((fname) => {
      const [symbol, desc] = CHANNELS[fname] || [fname, fname];
      return { symbol, title: `${fname}: ${desc}` };
    });
    slots = [];
    for (let i = 0; i < n; i++) {
      const node = tpl.content.firstElementChild.cloneNode(true);
      node.dataset.testid = `slot-${i}`;
      node.id = `slot-${i}`;
      const q = (sel) => node.querySelector(sel);
      q(".slot-name").textContent = `Slot ${i + 1}`;
      q(".slot-engine").dataset.testid = `slot-engine-${i}`;
      q(".slot-cycle").dataset.testid = `slot-cycle-${i}`;
      q(".slot-status").dataset.testid = `slot-status-${i}`;
      node.setAttribute("aria-label", `Slot ${i + 1}`);
      q(".strategy-chart").setAttribute("aria-label", `Slot ${i + 1} strategy chart: no data yet.`);
      q(".sensors").setAttribute("aria-label", `Slot ${i + 1} sensors: no data yet.`);
      container.appendChild(node);
      const slot = {
        index: i,
        node,
        engineEl: q(".slot-engine"),
        cycleEl: q(".slot-cycle"),
        statusEl: q(".slot-status"),
        overlayEl: q(".slot-overlay"),
        chartEl: q(".strategy-chart"),
        sensorsEl: q(".sensors"),
        engineId: null,
        lastCycle: -1,
        view: null,
        shownView: null,
        sx: [],
        sy: labels.map(() => []),
        cx: [],
        cycle: [],
        local: [],
        fed: [],
        localLow: [], // local prediction - local margin (null under the raw decision)
        fedLow: [], // federated prediction - federated margin
        dirty: true,
      };
      // Charts are created after the node is in the document, so they can size themselves.
      slot.sensors = new SensorGrid(slot.sensorsEl, labels, SENSOR_WINDOW);
      slot.strategyChart = strategyChart(slot.chartEl, thresholds);
      slots.push(slot);
    }
  }

  store.subscribe("snapshot", ({ configChanged }) => {
    if (configChanged || slots.length !== game.player.slots.length) build(game.player.slots.length);
    for (const slot of slots) clear(slot);
  });

  // Each point's lower bound uses the margins of its own state (a model deployed from the lab
  // changes the federated margin from then on).
  store.subscribe("state", (state) => {
    const views = game.player.slots;
    const margins = playerMargins(state);
    for (let i = 0; i < slots.length && i < views.length; i++) {
      append(slots[i], views[i], margins);
    }
  });

  const updateLabels = throttle(() => slots.forEach(label), LABEL_MS);

  store.subscribe("render", ({ stateChanged }) => {
    let headChanged = false;
    for (const slot of slots) {
      // A slot's view is the same object until a frame changes something in it.
      if (stateChanged && slot.view && slot.view !== slot.shownView) {
        slot.shownView = slot.view;
        headChanged = true;
        renderHead(slot, slot.view);
      }
      if (slot.dirty) {
        slot.dirty = false;
        slot.strategyChart.setData([
          slot.cx,
          slot.cycle,
          slot.local,
          slot.fed,
          slot.localLow,
          slot.fedLow,
        ]);
        slot.sensors.setData(slot.sx, slot.sy);
      }
    }
    if (headChanged) updateLabels();
  });

  // Text alternatives of a slot's two charts (role="img" containers).
  function label(slot) {
    const v = slot.view;
    if (!v) return;
    const cfg = game.config;
    const rul = (x) => (x == null ? "none" : Math.round(x));
    const m = playerMargins(game.state);
    const bounds =
      m.decision === "calibrated"
        ? `; lower bounds (prediction less its margin): local ` +
          `${rul(lowerBound(v.local_rul, m.local))}, federated ` +
          `${rul(lowerBound(v.federated_rul, m.federated))}`
        : "; raw rule (no margin)";
    setAttr(
      slot.chartEl,
      "aria-label",
      `Slot ${slot.index + 1} strategy chart, engine ${v.engine_id}: cycle ${v.cycle} ` +
        `(preventative threshold ${cfg.preventative_cycle}); predicted remaining life: ` +
        `local model ${rul(v.local_rul)}, federated model ${rul(v.federated_rul)} cycles` +
        `${bounds} (threshold ${cfg.rul_threshold}).`,
    );
    const latest = labels
      .map((l, k) => {
        const ys = slot.sy[k];
        return `${l.symbol} ${formatValue(ys.length ? ys[ys.length - 1] : null)}`;
      })
      .join(", ");
    setAttr(
      slot.sensorsEl,
      "aria-label",
      slot.sx.length
        ? `Slot ${slot.index + 1} sensors of engine ${v.engine_id} over its last ${slot.sx.length} cycles; latest: ${latest}.`
        : `Slot ${slot.index + 1} sensors of engine ${v.engine_id}: no cycle run yet.`,
    );
  }

  // Slot i's strategy chart (uPlot; its `data` is what is drawn), for tests and the curious.
  return { strategy: (i) => (slots[i] ? slots[i].strategyChart : null) };
}

function clear(slot) {
  slot.engineId = null;
  slot.shownView = null;
  slot.lastCycle = -1;
  slot.sx.length = 0;
  for (const ys of slot.sy) ys.length = 0;
  slot.cx.length = 0;
  slot.cycle.length = 0;
  slot.local.length = 0;
  slot.fed.length = 0;
  slot.localLow.length = 0;
  slot.fedLow.length = 0;
  slot.dirty = true;
}

function append(slot, view, margins) {
  if (view.engine_id !== slot.engineId || view.cycle < slot.lastCycle) {
    clear(slot);
    slot.engineId = view.engine_id;
  }
  slot.view = view;
  if (view.cycle <= slot.lastCycle || view.cycle < 1 || !view.sensors || !view.sensors.length) {
    return;
  }
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
  slot.localLow.push(lowerBound(view.local_rul, margins.local));
  slot.fedLow.push(lowerBound(view.federated_rul, margins.federated));
  if (slot.cx.length > ENGINE_CAP) {
    slot.cx.shift();
    slot.cycle.shift();
    slot.local.shift();
    slot.fed.shift();
    slot.localLow.shift();
    slot.fedLow.shift();
  }
  slot.dirty = true;
}

function renderHead(slot, v) {
  setAttr(slot.node, "data-status", v.status);
  setText(slot.engineEl, v.engine_id);
  setText(slot.cycleEl, `cycle ${v.cycle}`);
  const label =
    v.status === "running"
      ? "running"
      : v.status === "maintenance"
        ? `maintenance · ${v.downtime_left}`
        : `down · ${v.downtime_left}`;
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

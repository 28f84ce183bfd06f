// The Federation Lab page: a form for the federation, Start / Pause / Step / Cancel over
// /ws/lab, live charts per round, the nodes' states, and Deploy into the player's game.
// `window.__lab` holds what the page received (for tests and the curious).

import { $, el, setHidden, setText } from "../dom.js";
import { LabCharts } from "./charts.js";
import { DeployPanel } from "./deploy.js";
import { LabForm } from "./form.js";
import { NodeGrid } from "./nodes.js";
import { LabSocket } from "./socket.js";

const page = {
  status: "idle", // idle | queued | starting | running | paused | finished | cancelled | error
  config: null, // the started run's configuration, defaults filled in
  rounds: [], // round records
  final: null,
  deployed: null,
  errors: [],
  frames: [], // frame types received, in order
  charts: null, // points per chart
};
window.__lab = page;

const buttons = {
  start: $("lab-start"),
  pause: $("lab-pause"),
  step: $("lab-step"),
  cancel: $("lab-cancel"),
};
const statusBox = $("lab-status");
const errorBox = $("lab-error");
const form = new LabForm($("lab-form"));
const charts = new LabCharts({ rmse: $("chart-rmse"), loss: $("chart-loss"), cost: $("chart-cost") });
const grid = new NodeGrid($("lab-grid"), $("lab-counts"));
const socket = new LabSocket(
  `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/lab`,
  { onFrame: handle, onLost: () => fail("The connection to the server was lost; the run stopped.") },
);
const deploy = new DeployPanel((message) => send(message));

function send(message) {
  socket.send(message);
}

const ACTIVE = new Set(["queued", "starting", "running", "paused"]);

function render() {
  const active = ACTIVE.has(page.status);
  socket.busy = active || deploy.pending;
  buttons.start.disabled = active;
  buttons.pause.disabled = !(page.status === "running" || page.status === "paused");
  buttons.pause.textContent = page.status === "paused" ? "Resume" : "Pause";
  buttons.pause.setAttribute("aria-pressed", page.status === "paused" ? "true" : "false");
  buttons.step.disabled = page.status !== "paused";
  buttons.cancel.disabled = !active;
  form.setDisabled(active);
  deploy.setReady(page.rounds.length > 0);
  page.charts = charts.points();
}

function say(text) {
  setText(statusBox, text);
}

function start() {
  const { config, error, field } = form.read();
  if (error) {
    showError(error, field);
    return;
  }
  showError(null);
  page.status = "starting";
  page.rounds = [];
  page.final = null;
  setHidden($("lab-headline"), true);
  showNotes([]);
  charts.clear();
  say("Asking the server for a training slot…");
  send({ type: "start", config });
  render();
}

function handle(frame) {
  page.frames.push(frame.type);
  switch (frame.type) {
    case "queued":
      page.status = "queued";
      say(`The lab is busy: your run is number ${frame.position} in line. ${frame.message}.`);
      break;
    case "started":
      page.status = "running";
      page.config = frame.config;
      grid.reset(frame.config.nodes);
      say(
        `Preparing ${frame.config.nodes} nodes (${frame.config.partition} partition) and ` +
          `training ${frame.config.rounds} rounds…`,
      );
      break;
    case "round":
      onRound(frame.record);
      break;
    case "status":
      page.status = frame.state;
      say(
        frame.state === "paused"
          ? `Paused after round ${frame.rounds_done} (the round under way still finishes).`
          : "Training…",
      );
      break;
    case "finished":
      page.status = "finished";
      page.final = frame.final;
      onFinished(frame.final);
      break;
    case "cancelled":
      page.status = "cancelled";
      say(`Cancelled after ${frame.rounds_done} round${frame.rounds_done === 1 ? "" : "s"}.`);
      break;
    case "deployed":
      page.deployed = frame;
      deploy.deployed(frame);
      break;
    case "error":
      page.errors.push(frame.message);
      if (!deploy.failed(frame.message)) {
        if (page.status === "starting") page.status = "idle";
        showError(frame.message, frame.field);
      }
      break;
    default:
      console.warn("lab: unknown frame", frame.type);
  }
  render();
}

function onRound(record) {
  page.rounds.push(record);
  charts.add(record);
  grid.show(record);
  const total = page.config ? page.config.rounds : "?";
  const rmse = record.rmse == null ? "not finite" : record.rmse.toFixed(2);
  const paused = page.status === "paused" ? " (paused)" : "";
  const eps = record.epsilon == null ? "" : `, ε ${record.epsilon.toFixed(2)}`;
  const failed = record.failure ? ` Round failed, model kept: ${record.failure}.` : "";
  say(`Round ${record.round} of ${total}: test RMSE ${rmse} cycles${eps}${paused}.${failed}`);
}

// The run's headline in words: the errors that matter for maintenance and what the model earns
// in the game (as % of the oracle's profit, under the game's decision), or why the game cannot
// use it.
export function headline(final) {
  const fmt = (v) => (v == null ? "-" : Number(v).toFixed(2));
  const errors =
    `late-life RMSE ${fmt(final.late_life_rmse)} cycles, capped RMSE ` +
    `${fmt(final.capped_rmse)}`;
  if (final.percent_of_oracle == null) {
    const why = final.not_deployed || "no % of the oracle was measured";
    return `${errors}; the game cannot use this model: ${why}.`;
  }
  const cal = final.calibration;
  const margin = cal ? String(Number(Number(cal.margin).toFixed(2))) : null;
  const rule = !cal
    ? ""
    : cal.decision === "raw"
      ? ` (raw rule: no margin; its margin would be ${margin} cycles)`
      : ` (calibrated decision: maintains when prediction − margin ${margin} < the threshold; ` +
        `margin from ${cal.rows} late-life cycles of the nodes' own engines)`;
  return (
    `${errors}; in the game it earns ${Number(final.percent_of_oracle).toFixed(1)}% of the ` +
    `oracle's profit${rule}.`
  );
}

function onFinished(final) {
  const fmt = (v) => (v == null ? "-" : Number(v).toFixed(2));
  say(`Finished ${page.rounds.length} rounds: test RMSE ${fmt(final.rmse)} cycles.`);
  const head = $("lab-headline");
  setText(head, `After ${final.rounds_done ?? page.rounds.length} rounds: ${headline(final)}`);
  head.dataset.deployable = final.percent_of_oracle == null ? "false" : "true";
  setHidden(head, false);
  showNotes(final.notes || []);
  let text =
    `Final global model: test RMSE ${fmt(final.rmse)} cycles, late-life RMSE ` +
    `${fmt(final.late_life_rmse)}.`;
  if (final.epsilon != null) {
    text += ` Privacy: (ε ${fmt(final.epsilon)}, δ ${Number(final.delta).toPrecision(2)}).`;
  }
  if (final.stopped) text += ` Stopped after round ${final.rounds_done}: ${final.stopped}.`;
  const people = final.personalized || [];
  if (people.length) {
    const med = (key) => {
      const v = people.map((p) => p[key]).sort((a, b) => a - b);
      return v[Math.floor(v.length / 2)];
    };
    text +=
      ` Per factory (median of ${people.length}): federated ${fmt(med("federated_rmse"))}, ` +
      `personalized ${fmt(med("personalized_rmse"))}, local ${fmt(med("local_rmse"))}.`;
  }
  setText($("lab-final"), text);
}

// The engine's sentences for the user (e.g. what secure aggregation cannot screen), verbatim.
function showNotes(notes) {
  const list = $("lab-notes");
  list.replaceChildren(...notes.map((note) => el("li", null, note)));
  setHidden(list, notes.length === 0);
}

function showError(message, field) {
  setText(errorBox, message || "");
  setHidden(errorBox, !message);
  form.mark(message ? field : null);
}

function fail(message) {
  page.status = "error";
  deploy.failed(message);
  showError(message);
  say("Stopped.");
  render();
}

buttons.start.addEventListener("click", start);
buttons.pause.addEventListener("click", () => {
  send({ type: page.status === "paused" ? "resume" : "pause" });
});
buttons.step.addEventListener("click", () => send({ type: "step" }));
buttons.cancel.addEventListener("click", () => {
  say("Cancelling after the round under way…");
  send({ type: "cancel" });
});
$("lab-form").addEventListener("submit", (e) => {
  e.preventDefault();
  start();
});
render();

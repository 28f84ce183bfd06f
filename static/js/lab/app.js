// The Federation Lab page: a form for the federation (recipes, help per field, an estimate of
// the run's time), Start / Pause / Step / Cancel over /ws/lab, live charts per round with the
// time left, the nodes' states, and Deploy into the player's game. Every failure (a refused
// setting, a run that fails, a lost socket) leaves Start working, with the server's sentence.
// `window.__lab` holds what the page received (for tests and the curious).

import { $, setHidden, setText } from "../dom.js";
import { LabCharts } from "./charts.js";
import { DeployPanel } from "./deploy.js";
import { duration, estimate, estimateText, progress, timeLeftText } from "./estimate.js";
import { showFinal, showNotes } from "./final.js";
import { LabForm } from "./form.js";
import { NodeGrid } from "./nodes.js";
import { PresetButtons } from "./presets.js";
import { installHint, loadRuntimes, showRuntimes } from "./runtimes.js";
import { LabSocket } from "./socket.js";

export { headline } from "./final.js";

const page = {
  status: "idle", // idle | queued | starting | running | paused | finished | cancelled | error
  config: null, // the started run's configuration, defaults filled in
  rounds: [], // round records
  final: null,
  deployed: null,
  check: null, // the last `confirm_deploy` frame: a worse model the player was asked about
  errors: [],
  frames: [], // frame types received, in order
  charts: null, // points per chart
  control: null, // the pause / resume / step / cancel sent and not answered yet
  runtimes: null, // what GET /api/lab says the server can run (null: it does not say)
  runtime: null, // the runtime the last start asked for
  progress: null, // {done, total, left, perRound} from the rounds' own seconds
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
const charts = new LabCharts({
  rmse: $("chart-rmse"),
  loss: $("chart-loss"),
  cost: $("chart-cost"),
  epsLegend: $("legend-eps"),
});
const presets = new PresetButtons($("lab-presets"), (preset) => {
  form.apply(preset.values);
  setText($("lab-watch"), `${preset.name}: ${preset.watch}`);
  setHidden($("lab-watch"), false);
  showEstimate();
});
const progressBar = $("lab-progress");
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
  presets.setDisabled(active);
  const total = page.config ? page.config.rounds : 0;
  setHidden(progressBar, !(active && total > 0));
  if (total > 0) {
    progressBar.max = total;
    progressBar.value = Math.min(page.rounds.length, total);
    progressBar.setAttribute("aria-valuetext", `${page.rounds.length} of ${total} rounds`);
  }
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
  page.config = null;
  page.control = null;
  page.rounds = [];
  page.final = null;
  page.runtime = config.runtime;
  setHidden($("lab-headline"), true);
  deploy.ask(null); // a warning about the last run's model no longer applies
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
      charts.setPrivacy(frame.config.dp_noise > 0);
      say(
        `Preparing ${frame.config.nodes} nodes (${frame.config.partition} partition) and ` +
          `training ${frame.config.rounds} rounds (estimated ` +
          `${duration(estimate(frame.config).seconds)})…`,
      );
      break;
    case "round":
      if (page.control === "step") page.control = null;
      if (!ACTIVE.has(page.status)) page.status = "running"; // the run is going on after all
      onRound(frame.record);
      break;
    case "status":
      page.control = null;
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
      page.control = null;
      page.status = "cancelled";
      say(`Cancelled after ${frame.rounds_done} round${frame.rounds_done === 1 ? "" : "s"}.`);
      break;
    case "confirm_deploy":
      page.check = frame;
      deploy.confirm(frame);
      break;
    case "deployed":
      page.deployed = frame;
      deploy.deployed(frame);
      break;
    case "error":
      onError(frame);
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
  const left = page.config ? timeLeftText(page.rounds, page.config.rounds) : "";
  const nobody = (record.participants || []).length === 0 ? " No node took part this round." : "";
  say(
    `Round ${record.round} of ${total}: test RMSE ${rmse} cycles${eps}${left}${paused}.` +
      `${nobody}${failed}`,
  );
  page.progress = page.config ? progress(page.rounds, page.config.rounds) : null;
}

// An error frame. The server sends one unasked only when the run is over (it failed), and as the
// answer to a message: a refused start, a pause or step it could not do, "there is no run to
// cancel" (none is going on). Whatever the case, Start must work again when no run is going on.
function onError(frame) {
  page.errors.push(frame.message);
  if (deploy.failed(frame.message)) return;
  const answered = page.control;
  page.control = null;
  const over = /^(there is no run to|the lab run failed)/.test(frame.message);
  if (ACTIVE.has(page.status) && (over || !answered || page.status === "starting")) {
    page.status = page.status === "starting" ? "idle" : "error";
    say("");
    showError(frame.message + installHint(page.runtime, frame.message), frame.field);
    return;
  }
  if (answered === "cancel") say("");
  showError(frame.message, frame.field);
}

function onFinished(final) {
  const fmt = (v) => (v == null ? "-" : Number(v).toFixed(2));
  say(`Finished ${page.rounds.length} rounds: test RMSE ${fmt(final.rmse)} cycles.`);
  showFinal(final, page.rounds.length);
}

function showEstimate() {
  const { config, error } = form.values();
  setText($("lab-estimate"), error ? "" : estimateText(config));
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

// A control message the server answers (a status, a round, cancelled, or an error).
function control(type) {
  page.control = type;
  send({ type });
}

buttons.start.addEventListener("click", start);
buttons.pause.addEventListener("click", () => control(page.status === "paused" ? "resume" : "pause"));
buttons.step.addEventListener("click", () => control("step"));
buttons.cancel.addEventListener("click", () => {
  say("Cancelling after the round under way…");
  control("cancel");
});
for (const type of ["input", "change"]) $("lab-form").addEventListener(type, showEstimate);
loadRuntimes().then((runtimes) => {
  page.runtimes = runtimes;
  if (runtimes) {
    const select = $("lab-form").elements.namedItem("runtime");
    showRuntimes(select, runtimes, $("runtime-note"));
  }
});
showEstimate();
$("lab-form").addEventListener("submit", (e) => {
  e.preventDefault();
  start();
});
render();

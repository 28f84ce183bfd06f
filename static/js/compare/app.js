// The Compare view: does federated beat local, and by how much? Runs a comparison over
// /ws/compare on load and on demand, shows its progress, then the answer in one sentence, the
// chart (with the player's factory marked when the game page passed `?node=N`) and a per-seed
// table.
//
// Optional query parameters: node (the player's factory), seeds (how many draw seeds, 1-20)
// and ticks (per seed, 500-100000) for the first run.

import { $, setAttr, setHidden, setText } from "../dom.js";
import { fetchPublished, renderAnswers } from "./answers.js";
import { LEVEL_COLORS, chartHeight, drawCompare } from "./chart.js";
import { CompareSocket } from "./socket.js";
import {
  answerSentence,
  chartLabel,
  decisionSentence,
  levels,
  pct,
  renderFailures,
  renderTable,
  youSentence,
  yours,
} from "./summary.js";

const LIMITS = { seeds: [1, 20], ticks: [500, 100000] };
const params = new URLSearchParams(location.search);

function wholeNumber(raw, [lo, hi]) {
  const text = String(raw ?? "").trim();
  if (!/^\d+$/.test(text)) return null;
  const n = Number(text);
  return n >= lo && n <= hi ? n : null;
}

const nodeParam = wholeNumber(params.get("node"), [0, 100000]);
const page = {
  status: "idle", // idle | running | done | error
  node: nodeParam,
  request: null,
  progress: null, // the latest progress frame of the running request
  result: null, // the latest result frame
  published: null, // GET /api/compare/published: the training-seed answer, or {error}
  error: null,
  frames: [], // types of the frames received, in order (for tests and the curious)
  chart: null, // what the chart drew: {you: the player's marks, rows, lines}
};
window.__compare = page;

const form = $("cmp-form");
const seedsBox = $("cmp-seeds");
const ticksBox = $("cmp-ticks");
const runBtn = $("cmp-run");
const formError = $("cmp-form-error");
const bar = $("cmp-progress");
const progressText = $("cmp-progress-text");
const errorBox = $("cmp-error");
const answer = $("cmp-answer");
const chartBox = $("cmp-chart");
const canvas = chartBox.querySelector("canvas");

const socket = new CompareSocket(
  `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/compare`,
  {
    onFrame: handle,
    onLost: () => fail("The connection to the server was lost. Run the comparison again."),
  },
);

function run() {
  const seeds = wholeNumber(seedsBox.value, LIMITS.seeds);
  const ticks = wholeNumber(ticksBox.value, LIMITS.ticks);
  setAttr(seedsBox, "aria-invalid", seeds == null ? "true" : false);
  setAttr(ticksBox, "aria-invalid", ticks == null ? "true" : false);
  if (seeds == null || ticks == null) {
    setText(formError, "Draw seeds: a whole number from 1 to 20; ticks: from 500 to 100000.");
    setHidden(formError, false);
    return;
  }
  setHidden(formError, true);
  page.request = { type: "compare", seeds: Array.from({ length: seeds }, (_, i) => i), ticks };
  page.status = "running";
  page.progress = null;
  page.error = null;
  renderProgress();
  socket.request(page.request);
}

function handle(frame) {
  page.frames.push(frame.type);
  if (frame.type === "progress") {
    page.progress = frame;
    renderProgress();
  } else if (frame.type === "result") {
    page.result = frame;
    page.status = "done";
    renderProgress();
    renderResult();
  } else if (frame.type === "error") {
    fail(`The server refused the comparison: ${frame.message}`);
  }
}

function fail(message) {
  page.status = "error";
  page.error = message;
  renderProgress();
}

function renderProgress() {
  const running = page.status === "running";
  runBtn.disabled = running;
  setAttr(answer, "aria-busy", running ? "true" : "false");
  setText(errorBox, page.error || "");
  setHidden(errorBox, !page.error);
  const req = page.request;
  if (!req) return;
  const total = req.seeds.length;
  const done = page.progress ? page.progress.done : 0;
  bar.max = total;
  bar.value = page.status === "done" ? total : done;
  setHidden(bar, page.status === "idle");
  const size = `${total} draw seed${total === 1 ? "" : "s"} × ${req.ticks.toLocaleString("en-US")} ticks`;
  let text = "";
  if (running) {
    const last = page.progress ? ` (seed ${page.progress.seed} just finished)` : "";
    text = `Comparing ${size}: ${done} of ${total} seeds done${last}…`;
  } else if (page.status === "done") {
    text = `Done: ${size}.`;
  } else if (page.status === "error") {
    text = "Stopped.";
  }
  setText(progressText, text);
}

function renderResult() {
  const result = page.result;
  const n = result.seeds[0] ? result.seeds[0].local_by_factory.length : 0;
  const node = page.node != null && page.node < n ? page.node : null;
  const mine = yours(result, node);
  setText($("cmp-sentence"), answerSentence(result));
  setText(
    $("cmp-context"),
    `${n} factories, each with its own local model, against the federated model they trained ` +
      `together (model family: ${result.model}); ${result.seeds.length} draw seed` +
      `${result.seeds.length === 1 ? "" : "s"} × ${result.ticks.toLocaleString("en-US")} ticks, ` +
      `every strategy on the same engines; ${result.decision === "raw" ? "raw" : "calibrated"} ` +
      `decision.`,
  );
  const you = $("cmp-you");
  setHidden(you, page.node == null);
  if (mine) setText(you, youSentence(result, mine));
  else if (page.node != null) setText(you, `There is no factory node ${page.node} here.`);
  renderLegend(result, mine);
  setHidden($("cmp-results"), false); // shown before drawing: the canvas takes its size
  chartBox.style.height = `${chartHeight(result.seeds.length)}px`;
  setAttr(chartBox, "aria-label", chartLabel(result, mine));
  draw();
  renderTable($("cmp-table-head"), $("cmp-table-body"), result, node);
  setText($("cmp-decision"), decisionSentence(result));
  renderFailures($("cmp-fail-head"), $("cmp-fail-body"), result);
  renderBoth();
}

// Both answers: this page's (draw seeds) and the published one (training seeds).
const trainSeed = $("cmp-varies").dataset.trainSeed;
function renderBoth() {
  renderAnswers($("cmp-answers-body"), $("cmp-answers-note"), page.result, page.published, trainSeed);
}
fetchPublished().then((published) => {
  page.published = published;
  renderBoth();
});

function renderLegend(result, mine) {
  const lv = levels(result);
  const items = [
    ["local", `a factory's own local model (dots; median ${pct(lv.local.median)})`, "dot"],
    ["federated", `federated ${pct(lv.federated)}`, "line"],
    ["centralized", `centralized ${pct(lv.centralized)}`, "line"],
    ["preventative", `preventative ${pct(lv.preventative)}`, "line"],
    ["corrective", `corrective ${pct(lv.corrective)}`, "line"],
  ].filter(([key]) => key === "local" || lv[key] != null);
  const legend = $("cmp-legend");
  legend.replaceChildren(
    ...items.map(([key, text, shape]) => {
      const li = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = shape === "dot" ? "lg-dot" : "lg-swatch";
      swatch.style.borderColor = LEVEL_COLORS[key];
      swatch.style.background = shape === "dot" ? LEVEL_COLORS[key] : "";
      li.append(swatch, document.createTextNode(text));
      return li;
    }),
  );
  if (mine) {
    const li = document.createElement("li");
    li.dataset.testid = "legend-you";
    const ring = document.createElement("span");
    ring.className = "lg-ring";
    li.append(ring, document.createTextNode(`your factory (node ${mine.node}), ringed`));
    legend.appendChild(li);
  }
}

let drawn = null;
function draw() {
  if (!page.result) return;
  const n = page.result.seeds[0] ? page.result.seeds[0].local_by_factory.length : 0;
  const node = page.node != null && page.node < n ? page.node : null;
  drawn = drawCompare(canvas, page.result, node);
  page.chart = drawn && { you: drawn.you, rows: drawn.rows.length, lines: drawn.lines };
}

let pending = false;
new ResizeObserver(() => {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    draw();
  });
}).observe(chartBox);

form.addEventListener("submit", (e) => {
  e.preventDefault();
  run();
});

// The first run: the defaults, or the seeds and ticks the address asks for.
const firstSeeds = wholeNumber(params.get("seeds"), LIMITS.seeds);
const firstTicks = wholeNumber(params.get("ticks"), LIMITS.ticks);
if (firstSeeds != null) seedsBox.value = String(firstSeeds);
if (firstTicks != null) ticksBox.value = String(firstTicks);
run();

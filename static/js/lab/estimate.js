// How long a lab run will take: before it starts, an estimate from the settings; while it runs,
// the time left from the seconds its own rounds took (each round record's `seconds`).
//
// The constants are measurements, not guarantees (the page says "estimate"). In process, one
// torch thread per run (the web lab's setting), on this project's 2-core VM, 2026-11-28: 4 rounds
// at 80 and 400 nodes gave about 4 ms per node per local epoch for window (0.45 s a round at 80
// nodes, 1.45 s at 400) and 0.5 ms for ff09 (0.05 s, 0.21 s), plus a fixed part per round
// (evaluating the global model); building the run and scoring it in the game took about 1 s.
// bench/results/lab.json (2 threads) measured window at 80 nodes faster: 3.7 s for 20 rounds.
// Secure aggregation: 0.79 s a round at 80 clients, growing as their square (bench.secagg).
// Flower deployment (bench.flower, README): start-up 10.9 s with 4 SuperNodes, 19.6 s with 8;
// a round 2.16 s with 4, 3.05 s with 8.

const NODE_EPOCH_S = { window: 0.004, ff09: 0.0005 };
const ROUND_BASE_S = { window: 0.09, ff09: 0.012 };
const SETUP_S = 1;
const SECAGG_80_S = 0.79;
const FLOWER_START_S = (n) => 2.2 + 2.18 * n;
const FLOWER_ROUND_S = (n) => 1.27 + 0.22 * n;
const DEFAULTS = { model: "window", nodes: 80, rounds: 20, local_epochs: 1, sample_fraction: 1 };

// "about 12 s", "about 3 min", "about 1.5 h".
export function duration(seconds) {
  if (!Number.isFinite(seconds)) return "unknown";
  if (seconds < 1) return "under a second";
  if (seconds < 90) return `about ${Math.round(seconds)} s`;
  if (seconds < 5400) return `about ${Math.round(seconds / 60)} min`;
  return `about ${(seconds / 3600).toFixed(1)} h`;
}

// {seconds, perRound} for a run of `config` (a LabConfig as the form reads it; fields left out
// take the engine's defaults).
export function estimate(config) {
  const c = { ...DEFAULTS, ...config };
  if (c.runtime === "flower-deployment") {
    const perRound = FLOWER_ROUND_S(c.nodes);
    return { seconds: FLOWER_START_S(c.nodes) + c.rounds * perRound, perRound };
  }
  const model = c.model in NODE_EPOCH_S ? c.model : "window";
  const training = c.nodes * c.sample_fraction * (1 - (c.dropout || 0));
  let perRound = ROUND_BASE_S[model] + training * c.local_epochs * NODE_EPOCH_S[model];
  if (c.secure_aggregation) perRound += SECAGG_80_S * (c.nodes * c.sample_fraction / 80) ** 2;
  // personalizing fine-tunes every factory's model, and trains its local model to compare
  const after = 2 * c.nodes * (c.personalize || 0) * NODE_EPOCH_S[model];
  return { seconds: SETUP_S + c.rounds * perRound + after, perRound };
}

// The sentence shown under the form before a run starts.
export function estimateText(config) {
  const c = { ...DEFAULTS, ...config };
  const { seconds, perRound } = estimate(c);
  const epochs = `${c.local_epochs} epoch${c.local_epochs === 1 ? "" : "s"}`;
  return (
    `Estimated time: ${duration(seconds)} (${c.nodes} nodes × ${c.rounds} rounds × ` +
    `${epochs}, about ${perRound < 10 ? perRound.toFixed(2) : Math.round(perRound)} s a ` +
    "round). An estimate from this project's measurements on a 2-core machine; a busy " +
    "server takes longer."
  );
}

// The median of the seconds the rounds so far took.
function medianSeconds(rounds) {
  const s = rounds
    .map((r) => r.seconds)
    .filter((x) => x != null && Number.isFinite(x))
    .sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : null;
}

// {done, total, left, perRound}: `left` in seconds from the measured rounds (null before any).
export function progress(rounds, total) {
  const perRound = medianSeconds(rounds);
  const done = rounds.length;
  const left = perRound == null ? null : Math.max(total - done, 0) * perRound;
  return { done, total, left, perRound };
}

// "; about 12 s left (0.61 s a round so far)", or "" when nothing is left or measured.
export function timeLeftText(rounds, total) {
  const { left, perRound } = progress(rounds, total);
  if (left == null || left <= 0) return "";
  return `; ${duration(left)} left (${perRound.toFixed(2)} s a round so far)`;
}

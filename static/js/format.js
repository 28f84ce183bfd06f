// Number formatting shared by the panels and charts. Pure functions (the browser tests import
// this module in the page to check them).

// Whole dollars with thousands separators: 1234.5 -> "$1,235", -60000 -> "-$60,000".
export function dollars(v) {
  const sign = v < 0 ? "-" : "";
  return sign + "$" + Math.abs(Math.round(v)).toLocaleString("en-US");
}

// Compact dollars for summaries: 1234567 -> "$1.2M", 15300 -> "$15k", -800 -> "-$800".
export function money(v) {
  const a = Math.abs(v);
  let s;
  if (a >= 1e6) s = (a / 1e6).toFixed(a >= 1e7 ? 0 : 1) + "M";
  else if (a >= 1e3) s = Math.round(a / 1e3) + "k";
  else s = String(Math.round(a));
  return (v < 0 ? "-$" : "$") + s;
}

function trimZeros(s) {
  return s.includes(".") ? s.replace(/\.?0+$/, "") : s;
}

// Labels for the ticks of a money axis. The unit (none, k, M) follows the largest tick, and the
// number of decimals follows the step between ticks, so distinct ticks never share a label:
// [0, 500, 1000, 1500, 2000] -> ["$0", "$0.5k", "$1k", "$1.5k", "$2k"].
export function moneyTicks(splits, step) {
  const vals = splits.filter((v) => v != null && isFinite(v));
  if (!vals.length) return splits.map(() => "");
  const top = Math.max(...vals.map(Math.abs));
  const unit = top >= 1e6 ? 1e6 : top >= 1e3 ? 1e3 : 1;
  const suffix = unit === 1e6 ? "M" : unit === 1e3 ? "k" : "";
  let incr = step;
  if (!(incr > 0)) {
    const sorted = [...new Set(vals)].sort((a, b) => a - b);
    incr = Infinity;
    for (let i = 1; i < sorted.length; i++) incr = Math.min(incr, sorted[i] - sorted[i - 1]);
    if (!isFinite(incr)) incr = unit;
  }
  let decimals = Math.max(0, Math.ceil(-Math.log10(incr / unit) - 1e-9));
  const label = (v, d) => {
    if (v == null || !isFinite(v)) return "";
    const text = trimZeros((Math.abs(v) / unit).toFixed(d));
    if (text === "0") return "$0";
    return (v < 0 ? "-$" : "$") + text + suffix;
  };
  // Float noise aside, `decimals` is enough; add more while two distinct ticks still collide.
  for (; decimals < 6; decimals++) {
    const labels = vals.map((v) => label(v, decimals));
    if (new Set(labels).size === new Set(vals).size) break;
  }
  return splits.map((v) => label(v, decimals));
}

// A sensor reading with about four significant digits.
export function formatValue(v) {
  if (v == null || !isFinite(v)) return "-";
  const a = Math.abs(v);
  if (a >= 1000) return v.toFixed(1);
  if (a >= 100) return v.toFixed(2);
  if (a >= 1) return v.toFixed(3);
  return v.toFixed(4);
}

// English words for small counts, as the help text uses them ("four slots").
const WORDS = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"];
export function countWord(n) {
  return Number.isInteger(n) && n >= 0 && n < WORDS.length ? WORDS[n] : String(n);
}

// What federated has earned the player against its stay-local ghost (the player's own factory
// on its own local model from its first switch to federated, whether it joined the federation
// or took federated in free play), honestly signed: "Federated has earned you $12,500 more than
// your own local model (node 7) would have since you first chose federated (tick 340)."
export function ghostSentence(ghost) {
  const gain = Math.round(ghost.federated_gain);
  const local = `your own local model (node ${ghost.node}) would have`;
  const since = `since you first chose federated (tick ${ghost.since_tick})`;
  if (gain === 0) return `Federated has earned you as much as ${local} ${since}.`;
  const word = gain > 0 ? "more" : "less";
  return `Federated has earned you ${dollars(Math.abs(gain))} ${word} than ${local} ${since}.`;
}

// Why the ghost's "local" is not a competitor's "local": each factory's local model learned
// from its own engines (its node's) only. `factories` are the state's.
export function ghostNote(ghost, factories) {
  const mine =
    `The dashed line is your factory on its own local model (node ${ghost.node}, ` +
    "trained on your engines only)";
  const others = factories.filter((f) => !f.is_player && f.strategy === "local");
  if (!others.length) return `${mine}.`;
  const theirs = others.map((f) => `${f.name}'s (node ${f.node})`).join(" or ");
  return (
    `${mine}, not ${theirs}: every factory's local model learned from its own engines alone, ` +
    "so the same strategy earns them different profits."
  );
}

// Delta frames' patches (docs/protocol.md, "The patch format"), and keeping unchanged parts of
// a state the same objects.
//
// A patch is a JSON object applied to an object (or array) key by key: a value `{"=": v}`
// replaces with v (whatever v is); `{"~": [drop, items]}` shifts a log: target[key] loses its
// first `drop` items and gets `items` appended; any other object descends into target[key]; an
// array, a number, a string, a boolean or null replaces. Array elements are addressed by their
// index written as a decimal string ("2"). Keys absent from the patch are unchanged.

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const isReplace = (v) => isObject(v) && Object.hasOwn(v, "=");
const isShift = (v) => isObject(v) && Object.hasOwn(v, "~");

// target[key][drop:] + items, as a new array.
function shifted(list, [drop, items]) {
  return (Array.isArray(list) ? list.slice(drop) : []).concat(items);
}

// A descent into something that is not an object or an array starts from an empty object (a
// server never sends one; this keeps a malformed patch from throwing halfway through).
const container = (v) => (v !== null && typeof v === "object" ? v : {});

// Applies `patch` to `target` in place, exactly as the protocol says; returns `target`.
export function applyPatch(target, patch) {
  for (const key of Object.keys(patch)) {
    const value = patch[key];
    if (isReplace(value)) target[key] = value["="];
    else if (isShift(value)) target[key] = shifted(target[key], value["~"]);
    else if (isObject(value)) target[key] = applyPatch(container(target[key]), value);
    else target[key] = value;
  }
  return target;
}

// The same result as applyPatch, without touching `target`: the objects and arrays on the
// patch's paths are copied, everything else is shared with `target`. So `next === prev` when the
// patch is empty, and `next.a.b === prev.a.b` whenever the patch did not reach into a.b: panels
// tell what changed by comparing identities.
export function patched(target, patch) {
  const keys = Object.keys(patch);
  if (!keys.length) return target;
  const base = container(target);
  const out = Array.isArray(base) ? base.slice() : { ...base };
  for (const key of keys) {
    const value = patch[key];
    if (isReplace(value)) out[key] = value["="];
    else if (isShift(value)) out[key] = shifted(base[key], value["~"]);
    else if (isObject(value)) out[key] = patched(base[key], value);
    else out[key] = value;
  }
  return out;
}

// `next` with every part that equals the same part of `prev` (deeply) replaced by prev's object:
// the whole of `prev` when they are equal. For keyframe snapshots, which repeat a state the
// page mostly has already.
export function reuse(prev, next) {
  if (prev === next) return prev;
  if (prev === null || next === null || typeof prev !== "object" || typeof next !== "object") {
    return Object.is(prev, next) ? prev : next;
  }
  if (Array.isArray(prev) !== Array.isArray(next)) return next;
  const keys = Object.keys(next);
  let same = keys.length === Object.keys(prev).length;
  const out = Array.isArray(next) ? new Array(next.length) : {};
  for (const key of keys) {
    const had = Object.hasOwn(prev, key);
    const v = had ? reuse(prev[key], next[key]) : next[key];
    if (!had || v !== prev[key]) same = false;
    out[key] = v;
  }
  return same ? prev : out;
}

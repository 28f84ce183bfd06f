// The profit history the dashboard draws, in the chart's shape:
//   {names: [], tick: [], series: [[profit per tick] per factory], ghost: [ghost's profit or null]}
// built from a snapshot's `History` and extended by the `points` of delta frames (the same
// `History` shape: {tick: [...], profit: {name: [...]}, ghost: [...]}).

export const HISTORY_CAP = 4000; // points kept; older ones are thinned out 2:1

// A snapshot's history, for the factories of `state`.
export function historyFrom(history, state) {
  const names = state.factories.map((f) => f.name);
  const tick = (history?.tick || []).slice();
  const ghost = history?.ghost || [];
  const h = {
    names,
    tick,
    series: names.map((n) => (history?.profit?.[n] || []).slice()),
    ghost: tick.map((_, i) => ghost[i] ?? null),
  };
  while (h.tick.length > HISTORY_CAP) thinHistory(h);
  anchorGhost(h, state);
  return h;
}

// Appends the points of ticks after the latest one held; returns whether `h` changed.
export function appendPoints(h, points, state) {
  const ticks = points?.tick || [];
  let added = 0;
  for (let i = 0; i < ticks.length; i++) {
    const last = h.tick.length ? h.tick[h.tick.length - 1] : -Infinity;
    if (!(ticks[i] > last)) continue;
    h.tick.push(ticks[i]);
    h.names.forEach((name, k) => h.series[k].push(points.profit?.[name]?.[i] ?? null));
    h.ghost.push(points.ghost?.[i] ?? null);
    added += 1;
  }
  while (h.tick.length > HISTORY_CAP) thinHistory(h);
  return anchorGhost(h, state) || added > 0;
}

// The ghost is the player's factory as it stood at `since_tick`: its line starts from the
// player's profit there (the tick's history point was recorded before the ghost existed).
// Returns whether it changed `h`.
function anchorGhost(h, state) {
  const ghost = state.ghost;
  if (!ghost || h.anchoredAt === ghost.since_tick) return false;
  const i = h.tick.lastIndexOf(ghost.since_tick);
  if (i < 0) return false; // not there yet: anchored once its tick's point is
  h.anchoredAt = ghost.since_tick;
  const p = state.factories.findIndex((f) => f.is_player);
  if (p < 0 || h.ghost[i] != null) return false;
  h.ghost[i] = h.series[p][i];
  return true;
}

function thinHistory(h) {
  // Keep every other point, and always the latest one.
  const keep = (arr) => arr.filter((_, i) => i % 2 === 0 || i === arr.length - 1);
  h.tick = keep(h.tick);
  h.series = h.series.map(keep);
  h.ghost = keep(h.ghost);
}

// The event log (newest first) and its announcements: new events are read out through an
// aria-live region, batched (at most one announcement every ANNOUNCE_MS, a summary when many
// events came at once) so a game at 50x does not flood a screen reader.

import { $, el, throttle } from "../dom.js";
import { changed } from "../store.js";

const SHOWN = 40; // events listed
const ANNOUNCE_MS = 1500;
const ANNOUNCE_MAX = 3; // lines per announcement; more become "and N more"
const LIVE_KEEP = 5; // announcements kept in the live region

const keyOf = (e) => `${e.tick}|${e.factory}|${e.slot}|${e.kind}|${e.message}`;

export function mountEvents(store) {
  const { game } = store;
  const list = $("events");
  const live = $("events-live");
  let shownKey = "";
  let seen = []; // keys of the events already announced (or there at a snapshot)
  let queue = []; // texts waiting to be announced

  const text = (e) => {
    const who = e.factory && e.factory !== game.player.name ? `${e.factory}: ` : "";
    const where = e.slot != null ? `slot ${e.slot + 1} · ` : "";
    return `${who}${where}${e.message}`;
  };

  const announce = throttle(() => {
    if (!queue.length) return;
    const lines = queue.slice(-ANNOUNCE_MAX);
    const more = queue.length - lines.length;
    queue = [];
    const item = el("p", null, lines.join(" ") + (more > 0 ? ` And ${more} more events.` : ""));
    live.appendChild(item);
    while (live.childElementCount > LIVE_KEEP) live.firstElementChild.remove();
  }, ANNOUNCE_MS);

  store.subscribe("snapshot", () => {
    shownKey = "";
    seen = (game.state.events || []).map(keyOf);
  });

  store.subscribe("render", ({ stateChanged, prev }) => {
    if (!stateChanged || !changed(prev, game.state, (s) => s.events)) return;
    const ev = game.state.events || [];
    const last = ev[ev.length - 1];
    const key = `${ev.length}:${last ? keyOf(last) : ""}`;
    if (key === shownKey) return;
    shownKey = key;
    // New events: those after the last one already seen (the server keeps the most recent ones).
    const keys = ev.map(keyOf);
    const lastSeen = seen.length ? keys.lastIndexOf(seen[seen.length - 1]) : -1;
    const fresh = lastSeen >= 0 || !seen.length ? ev.slice(lastSeen + 1) : ev;
    seen = keys;
    if (fresh.length) {
      queue.push(...fresh.map(text));
      announce();
    }
    renderList(ev);
  });

  function renderList(ev) {
    const items = ev
      .slice(-SHOWN)
      .reverse()
      .map((e) => {
        const li = el("li", e.kind);
        li.append(el("span", "t", e.tick), el("span", "m", text(e)));
        return li;
      });
    if (!items.length) items.push(el("li", "empty", "No events yet."));
    list.replaceChildren(...items);
  }
}

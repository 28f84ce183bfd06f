// Turbofan Tycoon dashboard: wires the connection, the store and the panels.
//
// Data flows one way: the connection feeds the store (every frame, as it arrives); the panels
// subscribe to the store and render at most once per animation frame, the latest state only.
// Panels send commands through `send`, never through the websocket.

import { GameConnection } from "./connection.js";
import { gameUrl, saveSession } from "./session.js";
import { createStore } from "./store.js";
import { mountControls } from "./panels/controls.js";
import { mountEvents } from "./panels/events.js";
import { mountGoal } from "./panels/goal.js";
import { mountHelp } from "./panels/help.js";
import { mountModels } from "./panels/models.js";
import { mountNotices } from "./panels/notices.js";
import { mountOffers } from "./panels/offers.js";
import { mountProfit } from "./panels/profit.js";
import { mountRule } from "./panels/rule.js";
import { mountScoreboard } from "./panels/scoreboard.js";
import { mountSeason } from "./panels/season.js";
import { mountSlots } from "./panels/slots.js";
import { mountSpeedHint } from "./panels/speed-hint.js";
import { mountStatus } from "./panels/status.js";
import { mountStrategyBar } from "./panels/strategy-bar.js";

const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/game`;
// The store acknowledges the frames it has drawn; a frame that does not follow the one before
// it (a patch needs its base) makes the connection start over from a fresh snapshot.
const store = createStore({
  ack: (seq) => connection.send({ type: "ack", seq }),
  resync: () => connection.restart("resync"),
});
const connection = new GameConnection(() => gameUrl(wsUrl), {
  onMessage: (msg) => store.ingest(msg),
  onStatus: (status) => store.setConnection(status),
  expectFrames: () => !!store.game.state && store.game.state.running,
});
store.subscribe("session", ({ sessionId }) => saveSession(sessionId));

const notify = mountNotices(store);
function send(command) {
  if (!connection.send(command)) {
    notify.error("Not connected to the game server: the command was not sent.");
    return;
  }
  if (command.type === "reset") store.expectNewGame();
}

// Panels subscribe in this order, which is the order they build and render in.
mountStatus(store);
mountHelp(store);
const slotCharts = mountSlots(store);
mountRule(store);
mountStrategyBar(store, send, notify);
mountOffers(store, send);
mountGoal(store);
mountScoreboard(store);
const profit = mountProfit(store);
mountModels(store);
mountEvents(store);
mountControls(store, send);
mountSpeedHint(store, send);
const season = mountSeason(store, send);

// Exposed for tests and for curious players (read-only use): `game.state` is the latest state
// the server sent, `game.history` the profit history, `stats` counts frames and render times,
// `charts.profit()` the profit chart (uPlot), `charts.strategy(i)` slot i's strategy chart
// (uPlot), `season.isOpen()` whether the results are shown;
// `connection.muted` and `connection.watchdogMs` are there for tests of the watchdog.
window.__tycoon = {
  game: store.game,
  stats: store.stats,
  store,
  connection,
  charts: { profit: profit.chart, strategy: slotCharts.strategy },
  season,
};

connection.connect();

// The connection pill ("live", "connecting", "offline", "reconnecting") and the reconnect
// banner. "reconnecting": the connection was open but the running game's frames stopped coming
// (the watchdog closed it).

import { $ } from "../dom.js";

export function mountStatus(store) {
  const pill = $("conn");
  const banner = $("banner");
  let timer = null;

  store.subscribe("connection", (s) => {
    pill.dataset.state = s.state;
    clearInterval(timer);
    if (s.state === "open") {
      pill.textContent = "live";
      banner.hidden = true;
      return;
    }
    if (s.state === "connecting") {
      pill.textContent = "connecting";
      if (!banner.hidden) banner.textContent = "Connection lost. Reconnecting now…";
      return;
    }
    const silent = s.reason === "silent";
    pill.textContent = silent ? "reconnecting" : "offline";
    banner.hidden = false;
    const why = silent
      ? "The game server stopped sending frames."
      : "Connection to the game server lost.";
    const update = () => {
      const secs = Math.max(0, (s.retryAt - Date.now()) / 1000);
      banner.textContent = `${why} Reconnecting in ${secs.toFixed(1)} s (attempt ${s.attempt})…`;
    };
    update();
    timer = setInterval(update, 200);
  });
}

// The connection pill ("live", "connecting", "offline") and the reconnect banner.

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
    pill.textContent = "offline";
    banner.hidden = false;
    const update = () => {
      const secs = Math.max(0, (s.retryAt - Date.now()) / 1000);
      banner.textContent = `Connection to the game server lost. Reconnecting in ${secs.toFixed(1)} s (attempt ${s.attempt})…`;
    };
    update();
    timer = setInterval(update, 200);
  });
}

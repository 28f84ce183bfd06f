// Toasts: the server's refusals (errors), short notes (e.g. how to unlock a strategy) and what
// became of the saved game on connecting ("Resumed your game at tick N", or the server's notice
// of why a new game started). The container is an aria-live region, so each toast is read out.
// "Your game is not being saved" is the one toast that lasts: until the server says the game is
// saved again (or the page connects afresh), since the player may lose play meanwhile.

import { $ } from "../dom.js";

const MAX_TOASTS = 4;
const SESSION_MS = 8000;

export function mountNotices(store) {
  const box = $("toasts");

  // `ms` 0: the toast stays until removed (and is never the one dropped for room).
  function show(message, kind, ms, testid) {
    // The same message again restarts its toast instead of stacking a copy.
    for (const t of [...box.children]) {
      if (t.textContent === message && t.dataset.kind === kind) t.remove();
    }
    const toast = document.createElement("div");
    toast.className = `toast toast-${kind}`;
    toast.dataset.kind = kind;
    toast.dataset.testid = testid || (kind === "error" ? "error-toast" : "info-toast");
    toast.textContent = message;
    box.appendChild(toast);
    if (ms) setTimeout(() => toast.remove(), ms);
    else toast.dataset.lasting = "true";
    while (box.childElementCount > MAX_TOASTS) {
      (box.querySelector(".toast:not([data-lasting])") || box.firstElementChild).remove();
    }
    return toast;
  }

  let unsaved = null; // the lasting "not being saved" toast
  store.subscribe("saving", ({ saved, message }) => {
    unsaved?.remove();
    unsaved = saved ? null : show(message, "error", 0, "not-saved-toast");
    if (saved && message) show(message, "info", 6000, "saved-toast");
  });

  store.subscribe("error", (message) => show(message, "error", 5000));
  store.subscribe("session", ({ resumed, notice, tick }) => {
    if (resumed) show(`Resumed your game at tick ${tick}.`, "info", SESSION_MS, "session-toast");
    if (notice) show(notice, "info", SESSION_MS, "session-toast");
  });

  return {
    error: (message) => show(message, "error", 5000),
    info: (message) => show(message, "info", 6000),
  };
}

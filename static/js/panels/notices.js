// Toasts: the server's refusals (errors) and short notes (e.g. how to unlock a strategy).
// The container is an aria-live region, so each toast is also read out.

import { $ } from "../dom.js";

const MAX_TOASTS = 4;

export function mountNotices(store) {
  const box = $("toasts");

  function show(message, kind, ms) {
    // The same message again restarts its toast instead of stacking a copy.
    for (const t of box.children) {
      if (t.textContent === message && t.dataset.kind === kind) t.remove();
    }
    const toast = document.createElement("div");
    toast.className = `toast toast-${kind}`;
    toast.dataset.kind = kind;
    toast.dataset.testid = kind === "error" ? "error-toast" : "info-toast";
    toast.textContent = message;
    box.appendChild(toast);
    setTimeout(() => toast.remove(), ms);
    while (box.childElementCount > MAX_TOASTS) box.firstElementChild.remove();
  }

  store.subscribe("error", (message) => show(message, "error", 5000));

  return {
    error: (message) => show(message, "error", 5000),
    info: (message) => show(message, "info", 6000),
  };
}

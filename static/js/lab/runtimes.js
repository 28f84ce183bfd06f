// Which runtimes the server can run (GET /api/lab's `runtimes`, app/web/lab_runtimes.py): one
// that is not installed is shown disabled with the command that installs it, instead of a run
// that fails at its first step. A server that does not say (no `runtimes` in its answer) leaves
// every runtime enabled; the runtime's help names the install command either way.

export const INSTALL_FLOWER = "make install-flower";

// The runtimes list of the server's /api/lab answer, or null when it does not say.
export async function loadRuntimes(url = "/api/lab") {
  try {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (!response.ok) return null;
    const body = await response.json();
    return Array.isArray(body.runtimes) ? body.runtimes : null;
  } catch (err) {
    console.warn("lab: could not ask which runtimes the server has", err);
    return null;
  }
}

// Mark each option of `select` as the server says; `note` (a paragraph) says what is missing and
// how to install it, or hides. A chosen runtime that is not available falls back to the first
// one that is.
export function showRuntimes(select, runtimes, note) {
  const missing = [];
  for (const info of runtimes || []) {
    const option = [...select.options].find((o) => o.value === info.name);
    if (!option) continue;
    option.dataset.label ??= option.textContent;
    option.disabled = !info.available;
    option.textContent = info.available
      ? option.dataset.label
      : `${option.dataset.label} (not installed: ${info.install || "see the docs"})`;
    if (!info.available) missing.push({ ...info, label: option.dataset.label });
  }
  if (select.selectedOptions[0]?.disabled) {
    const first = [...select.options].find((o) => !o.disabled);
    if (first) select.value = first.value;
    select.dispatchEvent(new Event("change", { bubbles: true }));
  }
  if (!note) return;
  note.replaceChildren();
  for (const info of missing) {
    const line = document.createElement("span");
    line.append(`${info.label} is not available: ${info.why || "not installed"}. Install it with `);
    const code = document.createElement("code");
    code.textContent = info.install || INSTALL_FLOWER;
    line.append(code, " on the server, then restart it. ");
    note.append(line);
  }
  note.hidden = missing.length === 0;
}

// Python's words when Flower's package or one of its commands is missing.
const FLOWER_MISSING = /No module named '?flwr|No such file or directory.*(flwr|flower-super)/i;

// The sentence added to a run's failure when it says Flower is missing on the server.
export function installHint(runtime, message) {
  if (runtime !== "flower-deployment" || !FLOWER_MISSING.test(message)) return "";
  return ` Flower is an optional extra: ${INSTALL_FLOWER} installs it on the server.`;
}

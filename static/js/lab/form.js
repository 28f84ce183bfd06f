// The run's configuration form: read into a `LabConfig` object (docs/lab.md), options shown for
// the chosen aggregation only, a note on what secure aggregation cannot screen while it is
// checked, Krum explained (and Multi-Krum's m suggested) while it is chosen, recipes that fill
// it, and the field the server refused marked.

import { addHelp } from "./help.js";

const NUMBER_FIELDS = new Set([
  "nodes", "rounds", "local_epochs", "lr", "sample_fraction", "dropout", "deadline", "prox_mu",
  "server_lr", "server_momentum", "trim_fraction", "multi_krum", "attackers", "personalize", "seed",
  "dp_noise", "dp_clip", "target_epsilon",
]);
const WHOLE = new Set(["nodes", "rounds", "local_epochs", "multi_krum", "personalize", "seed"]);

export class LabForm {
  constructor(form) {
    this.form = form;
    addHelp(form);
    this.aggregation = form.elements.namedItem("aggregation");
    this.aggregation.addEventListener("change", () => this.showOptions());
    this.showOptions();
    this.secagg = form.elements.namedItem("secure_aggregation");
    this.attack = form.elements.namedItem("attack");
    for (const input of [this.secagg, this.attack]) {
      input.addEventListener("change", () => this.showSecaggNote());
    }
    this.showSecaggNote();
    this.multiKrum = form.elements.namedItem("multi_krum");
    // m typed by the user is theirs: no longer suggested
    this.multiKrum.addEventListener("input", () => (this.multiKrum.dataset.user = "1"));
    form.addEventListener("input", (e) => e.target !== this.multiKrum && this.explainKrum());
    form.addEventListener("change", (e) => e.target !== this.multiKrum && this.explainKrum());
    this.explainKrum();
  }

  // Krum keeps one model a round (79 of 80 rejected, honest ones too): say so beside it, and
  // suggest Multi-Krum's m = nodes - 2 x attackers (a tenth of the nodes when no attack is
  // chosen: a defender never knows), which averages the m most central models. Within the
  // engine's rule m <= nodes - attackers; Krum itself needs nodes > 2 x attackers + 2.
  explainKrum() {
    const note = this.form.querySelector("#krum-note");
    const krum = this.aggregation.value === "krum";
    if (note) note.hidden = !krum;
    if (!krum) return;
    const n = Math.max(Math.round(Number(this.form.elements.namedItem("nodes").value)) || 0, 0);
    const share = Number(this.form.elements.namedItem("attackers").value) || 0;
    const attackers = this.attack.value === "none" ? 0 : Math.floor(share * n + 0.5);
    const assumed = attackers || Math.ceil(n / 10);
    const m = Math.max(n - 2 * assumed, 1);
    if (!this.multiKrum.dataset.user) this.multiKrum.value = String(m);
    const set = (id, text) => {
      const span = this.form.querySelector(`#${id}`);
      if (span) span.textContent = text;
    };
    set("krum-rejected", `with ${n} nodes, ${Math.max(n - 1, 0)} are rejected every round`);
    set(
      "krum-m",
      attackers
        ? `nodes − 2 × attackers = ${n} − 2 × ${attackers} = ${m}`
        : `nodes − 2 × a tenth of them (no attack chosen) = ${n} − 2 × ${assumed} = ${m}`,
    );
  }

  // A recipe: every field back to its default, then the recipe's values.
  apply(values) {
    this.form.reset();
    delete this.multiKrum.dataset.user;
    for (const [name, value] of Object.entries(values)) {
      const input = this.form.elements.namedItem(name);
      if (!input) continue;
      if (input.type === "checkbox") input.checked = Boolean(value);
      else input.value = String(value);
    }
    this.mark(null);
    this.showOptions();
    this.showSecaggNote();
    this.explainKrum();
    this.form.dispatchEvent(new Event("change"));
  }

  // Secure aggregation's trade-off in words: shown while it is checked, with a second sentence
  // when an attack is chosen too (the attackers' updates reach the sum unscreened).
  showSecaggNote() {
    const note = this.form.querySelector("#secagg-note");
    const attack = this.form.querySelector("#secagg-attack-note");
    if (!note) return;
    note.hidden = !this.secagg.checked;
    if (attack) attack.hidden = !(this.secagg.checked && this.attack.value !== "none");
  }

  // Each option belongs to the rules listed in its label's data-for.
  showOptions() {
    const rule = this.aggregation.value;
    for (const label of this.form.querySelectorAll(".lab-opt")) {
      const on = label.dataset.for.split(" ").includes(rule);
      label.hidden = !on;
      for (const input of label.querySelectorAll("input")) input.disabled = !on;
    }
  }

  // {config} or {error, field}: empty optional numbers are left to the server's defaults. The
  // marks of the last refusal are cleared (a new start is under way).
  read() {
    this.mark(null);
    return this.values();
  }

  // What `read` returns, leaving the marks as they are (for the estimate, on every keystroke).
  values() {
    const config = {};
    for (const input of this.form.querySelectorAll("input, select")) {
      if (input.disabled || !input.name) continue;
      if (input.type === "checkbox") {
        config[input.name] = input.checked;
        continue;
      }
      const raw = String(input.value).trim();
      if (!NUMBER_FIELDS.has(input.name)) {
        config[input.name] = raw;
        continue;
      }
      if (raw === "") continue;
      const n = Number(raw);
      if (!Number.isFinite(n) || (WHOLE.has(input.name) && !Number.isInteger(n))) {
        const kind = WHOLE.has(input.name) ? "a whole number" : "a number";
        return { error: `${input.name} must be ${kind}, got "${raw}"`, field: input.name };
      }
      config[input.name] = n;
    }
    if (config.attack === "none") delete config.attackers;
    return { config };
  }

  // Mark `field` (a LabConfig field name) as the wrong one; null clears every mark.
  mark(field) {
    for (const input of this.form.querySelectorAll("input, select")) {
      const wrong = field != null && input.name === field;
      if (wrong) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
      if (wrong) input.focus();
    }
  }

  setDisabled(disabled) {
    for (const input of this.form.querySelectorAll("input, select")) {
      if (!input.closest(".lab-opt[hidden]")) input.disabled = disabled;
    }
    if (!disabled) this.showOptions();
  }
}

// The run's configuration form: read into a `LabConfig` object (docs/lab.md), options shown for
// the chosen aggregation only, a note on what secure aggregation cannot screen while it is
// checked, and the field the server refused marked.

const NUMBER_FIELDS = new Set([
  "nodes", "rounds", "local_epochs", "lr", "sample_fraction", "dropout", "deadline", "prox_mu",
  "server_lr", "server_momentum", "trim_fraction", "multi_krum", "attackers", "personalize", "seed",
  "dp_noise", "dp_clip", "target_epsilon",
]);
const WHOLE = new Set(["nodes", "rounds", "local_epochs", "multi_krum", "personalize", "seed"]);

export class LabForm {
  constructor(form) {
    this.form = form;
    this.aggregation = form.elements.namedItem("aggregation");
    this.aggregation.addEventListener("change", () => this.showOptions());
    this.showOptions();
    this.secagg = form.elements.namedItem("secure_aggregation");
    this.attack = form.elements.namedItem("attack");
    for (const input of [this.secagg, this.attack]) {
      input.addEventListener("change", () => this.showSecaggNote());
    }
    this.showSecaggNote();
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

  // {config} or {error, field}: empty optional numbers are left to the server's defaults.
  read() {
    this.mark(null);
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

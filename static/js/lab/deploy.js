// "Use it in my factory": deploys the run's current model into the game whose session id the
// dashboard keeps in localStorage, and shows its profit next to the default and local models'.

import { $, setHidden, setText } from "../dom.js";
import { savedSession } from "../session.js";

const pct = (v) => (v == null || !Number.isFinite(v) ? "-" : `${v.toFixed(1)}%`);

export class DeployPanel {
  constructor(send) {
    this.send = send;
    this.button = $("lab-deploy");
    this.status = $("lab-deploy-status");
    this.figures = $("lab-figures");
    this.pending = false;
    this.button.addEventListener("click", () => this.deploy());
  }

  // Deploying needs a round played; `ready` says whether there is one.
  setReady(ready) {
    this.button.disabled = !ready || this.pending;
  }

  deploy() {
    const session = savedSession();
    if (!session) {
      setText(
        this.status,
        "No game found in this browser: open the game (Back to the game), then deploy.",
      );
      return;
    }
    this.pending = true;
    this.button.disabled = true;
    setText(this.status, "Deploying and measuring the profit… (the first time takes longer)");
    this.send({ type: "deploy", session });
  }

  deployed(frame) {
    this.pending = false;
    this.button.disabled = false;
    setText(
      this.status,
      `Your game now runs "${frame.model}" behind its federated strategy (from the next ` +
        "decision on). Profit as % of the oracle's:",
    );
    setText($("fig-lab"), pct(frame.percent_of_oracle));
    setText($("fig-default"), pct(frame.default_percent_of_oracle));
    setText($("fig-local"), pct(frame.local_percent_of_oracle));
    setHidden(this.figures, false);
  }

  failed(message) {
    if (!this.pending) return false;
    this.pending = false;
    this.button.disabled = false;
    setText(this.status, `Not deployed: ${message}`);
    return true;
  }
}

// "Use it in my factory": deploys the run's current model into the game whose session id the
// dashboard keeps in localStorage, and shows its profit next to the default and local models'.
// A model that earns less than the default one is not deployed at once: the server answers
// `confirm_deploy` with the figures, and the page asks "Deploy it anyway" / "Keep my game's
// model" (docs/lab.md, section 4); the answer `deployed` says how long the deployment lasts.

import { $, setHidden, setText } from "../dom.js";
import { savedSession } from "../session.js";

const pct = (v) => (v == null || !Number.isFinite(v) ? "-" : `${v.toFixed(1)}%`);

export class DeployPanel {
  constructor(send) {
    this.send = send;
    this.button = $("lab-deploy");
    this.status = $("lab-deploy-status");
    this.figures = $("lab-figures");
    this.warning = $("lab-deploy-warning");
    this.pending = false;
    this.check = null; // the `confirm_deploy` frame the player is being asked about
    this.button.addEventListener("click", () => this.deploy(false));
    $("lab-deploy-anyway").addEventListener("click", () => this.deploy(true));
    $("lab-deploy-keep").addEventListener("click", () => this.keep());
  }

  // Deploying needs a round played; `ready` says whether there is one.
  setReady(ready) {
    this.button.disabled = !ready || this.pending;
  }

  // `confirmWorse`: the player saw the warning and deploys all the same.
  deploy(confirmWorse) {
    const session = confirmWorse && this.check ? this.check.session : savedSession();
    this.ask(null);
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
    const message = { type: "deploy", session };
    if (confirmWorse) message.confirm_worse = true;
    this.send(message);
  }

  // The warning and its two buttons (null hides them).
  ask(frame) {
    this.check = frame;
    setText($("lab-deploy-warning-text"), frame ? `Not deployed yet: ${frame.message}.` : "");
    setHidden(this.warning, !frame);
  }

  // The server measured the model: it earns less than the default one.
  confirm(frame) {
    this.pending = false;
    this.button.disabled = false;
    setText(this.status, "This model earns less than your game's default model: deploy it?");
    this.showFigures(frame);
    this.ask(frame);
    $("lab-deploy-keep").focus();
  }

  keep() {
    this.ask(null);
    setText(this.status, "Not deployed: your game keeps its model.");
  }

  deployed(frame) {
    this.pending = false;
    this.button.disabled = false;
    this.ask(null);
    const worse = frame.worse_than_default ? ` Warning: ${frame.warning}.` : "";
    setText(
      this.status,
      `Your game now runs "${frame.model}" behind its federated strategy (from the next ` +
        `decision on); this deployment is ${frame.kept}.${worse} Profit as % of the oracle's:`,
    );
    this.showFigures(frame);
  }

  showFigures(frame) {
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

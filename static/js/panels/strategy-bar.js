// The strategy buttons and the note under them (the offers are panels/offers.js). A locked
// strategy's button stays focusable and clickable (aria-disabled, not disabled): clicking it
// says how to unlock it instead of sending a command. Beside them, the model a lab deployment put
// behind the federated strategy (docs/lab.md, section 4): its badge names the run's settings, a
// note says how long the deployment lasts (the server's sentence, `lab_model.kept`), and "Use
// the default model" drops it. Once dropped, the badge says "default" and why, until a new page.

import { $, setAttr, setHidden, setText } from "../dom.js";
import { playerOf } from "../store.js";

const LOCK_SVG =
  '<svg viewBox="0 0 12 12" width="11" height="11" aria-hidden="true"><rect x="2" y="5.5" width="8" height="6" rx="1" fill="currentColor"/><path d="M4 5.5V4a2 2 0 0 1 4 0v1.5" stroke="currentColor" fill="none" stroke-width="1.3"/></svg>';

export function mountStrategyBar(store, send, notify) {
  const { game } = store;
  const box = $("strategy-buttons");
  const note = $("strategy-note");
  const badge = $("federated-model");
  const badgeRow = $("federated-model-row");
  const kept = $("federated-model-kept");
  const useDefault = $("use-default-model");
  useDefault.addEventListener("click", () => send({ type: "use_default_model" }));
  let shownLab = null; // the lab model shown now (null: the default model)
  let lastLab = null; // the label of the lab model last shown on this page
  let dropped = ""; // why the default model decides again, once a lab model was dropped

  function isOpen(name) {
    const state = game.state;
    const allowed = game.player.allowed_strategies || state.unlocked;
    return state.unlocked.includes(name) && allowed.includes(name);
  }

  function choose(s) {
    if (isOpen(s.name)) {
      send({ type: "set_strategy", strategy: s.name });
    } else {
      notify.info(`${s.label} is locked. ${s.unlock_hint}`);
    }
  }

  function build() {
    box.replaceChildren();
    for (const s of game.config.strategies) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "btn strategy-btn";
      b.dataset.strategy = s.name;
      b.dataset.testid = `strategy-btn-${s.name}`;
      b.id = `strategy-btn-${s.name}`;
      b.setAttribute("aria-pressed", "false");
      const label = document.createElement("span");
      label.textContent = s.label;
      const lock = document.createElement("span");
      lock.className = "lock";
      lock.innerHTML = LOCK_SVG;
      lock.hidden = true;
      b.append(lock, label);
      b.__lock = lock;
      b.addEventListener("click", () => choose(s));
      box.appendChild(b);
    }
  }

  store.subscribe("snapshot", ({ configChanged }) => {
    if (configChanged) build();
  });

  // What the bar shows depends on these parts of a state only.
  const parts = (s) => {
    const p = playerOf(s);
    return [s.unlocked, s.free_play, p.strategy, p.allowed_strategies, s.lab_model];
  };
  let shown = null; // parts(state) as last drawn, null after a new game's snapshot
  store.subscribe("snapshot", () => {
    shown = null;
    if (shownLab && !game.state.lab_model) dropped = `New game dropped "${shownLab.label}".`;
  });

  store.subscribe("render", ({ stateChanged }) => {
    if (!stateChanged) return;
    const state = game.state;
    const now = parts(state);
    if (shown && now.every((v, i) => v === shown[i])) return;
    shown = now;
    const player = game.player;
    for (const b of box.children) {
      const info = game.strategies.get(b.dataset.strategy);
      const open = isOpen(info.name);
      setAttr(b, "aria-disabled", open ? "false" : "true");
      setAttr(b, "aria-pressed", player.strategy === info.name ? "true" : "false");
      setAttr(b, "title", open ? info.description : `Locked. ${info.unlock_hint}`);
      setHidden(b.__lock, open);
    }
    const current = game.strategies.get(player.strategy);
    const locked = game.config.strategies.filter((s) => !state.unlocked.includes(s.name));
    let text = current ? `${current.label}: ${current.description}` : "";
    if (locked.length && !state.free_play) text += `  Next unlock: ${locked[0].unlock_hint}`;
    setText(note, text);
    showModel(state.lab_model || null);
  });

  // A model deployed from the Federation Lab runs behind the federated strategy: say which, how
  // long it stays, and offer the way back; after it went, say "default" and why.
  function showModel(lab) {
    shownLab = lab;
    if (lab) {
      lastLab = lab.label;
      dropped = "";
    } else if (lastLab && !dropped) {
      dropped = `You went back to the default model: "${lastLab}" was dropped.`;
    }
    const model = lab ? lab.label : "default";
    setText(badge, lab || dropped ? `Federated strategy's model: ${model}` : "");
    setText(kept, lab ? `This deployment is ${lab.kept}.` : dropped);
    setHidden(badge, !(lab || dropped));
    setHidden(useDefault, !lab);
    setHidden(badgeRow, !(lab || dropped));
  }
}

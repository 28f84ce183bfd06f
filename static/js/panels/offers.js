// The offers as decisions: a card under the strategy buttons says what each offer gives and
// what it asks in return (the data scientist: a model of your own engines only; the federation:
// your model updates each round, never your engine data), with the button that accepts it. An
// offer that appears is announced in view: a toast (role=status, in the fixed toast corner)
// with a button that scrolls to the card and focuses its button, so a phone that shows the
// scoreboard first still sees it (the toast goes once the offer is taken). Once chosen, the factory's card (under the strategy note)
// says what the factory now has.

import { $, el, setHidden, setText } from "../dom.js";

const TOAST_MS = 12000;

// What each offer gives and asks, for the player's factory at `node` in a federation of
// `nFactories` factories (null when unknown).
export function offerTexts(node, nFactories) {
  const who = nFactories ? `${nFactories} factories` : "The federation's factories";
  return {
    hire:
      `A data scientist trains a model on your factory's own engines only (node ${node}): ` +
      "your data never leaves the factory. Hiring unlocks local predictive maintenance, which " +
      "maintains an engine when the model predicts its end is near instead of at a fixed " +
      "cycle. It costs nothing; the catch is that one factory's engines are little to learn from.",
    federation:
      `${who} train one shared model. What it asks in return: each round your factory ` +
      `(node ${node}) trains the shared model on its own engines and sends back the model ` +
      "update, never its engine data. Joining unlocks federated predictive maintenance; your " +
      "competitors can never join.",
  };
}

// What the factory has chosen so far, as the factory's card lists it.
export function choices(state, node) {
  if (state.free_play) return ["Free play: every strategy is open, no hire or membership needed."];
  const out = [];
  if (state.unlocked.includes("local")) {
    out.push(`Data scientist on staff: your local model learns from node ${node}'s engines only.`);
  }
  if (state.unlocked.includes("federated")) {
    out.push("Federation member: your factory sends model updates each round, never its data.");
  }
  return out;
}

export function mountOffers(store, send) {
  const { game } = store;
  const toasts = $("toasts");
  const card = $("factory-card");
  const offers = [
    {
      key: "hire",
      flag: "hire_data_scientist",
      box: $("hire-offer"),
      text: $("hire-offer-text"),
      button: $("hire-btn"),
      command: "hire_data_scientist",
      toast: "A data scientist is on offer: hire one to unlock local predictive maintenance.",
    },
    {
      key: "federation",
      flag: "federation",
      box: $("federation-offer"),
      text: $("federation-offer-text"),
      button: $("federation-btn"),
      command: "accept_federation",
      toast: "The federation invites your factory: join to unlock federated predictive.",
    },
  ];
  let announced = new Set(); // offers announced in this game
  let shown = ""; // what was drawn last, as a key

  function showOffer(offer) {
    offer.box.scrollIntoView({ block: "center", behavior: "instant" });
    offer.button.focus();
  }

  function dropToast(offer) {
    for (const t of toasts.querySelectorAll(`[data-offer="${offer.key}"]`)) t.remove();
  }

  function announce(offer) {
    dropToast(offer);
    const toast = el("div", "toast toast-info toast-offer", offer.toast);
    toast.dataset.kind = "info";
    toast.dataset.offer = offer.key;
    toast.dataset.testid = "offer-toast";
    toast.setAttribute("role", "status");
    const go = el("button", "btn toast-action", "Show the offer");
    go.type = "button";
    go.dataset.testid = "offer-toast-show";
    go.addEventListener("click", () => {
      toast.remove();
      showOffer(offer);
    });
    toast.append(" ", go);
    toasts.appendChild(toast);
    setTimeout(() => toast.remove(), TOAST_MS);
  }

  store.subscribe("snapshot", () => {
    announced = new Set();
    shown = "";
    for (const offer of offers) dropToast(offer);
  });

  store.subscribe("render", ({ stateChanged }) => {
    if (!stateChanged) return;
    const state = game.state;
    const node = game.player.node;
    const key = JSON.stringify([state.offers, state.unlocked, state.free_play, node]);
    if (key === shown) return;
    shown = key;
    const texts = offerTexts(node, game.models?.factories?.length ?? null);
    for (const offer of offers) {
      const open = !!state.offers[offer.flag];
      setHidden(offer.box, !open);
      setHidden(offer.button, !open);
      if (!open) {
        dropToast(offer); // taken (or gone): its announcement is no news any more
        continue;
      }
      setText(offer.text, texts[offer.key]);
      if (!announced.has(offer.key)) {
        announced.add(offer.key);
        announce(offer);
      }
    }
    const items = choices(state, node);
    card.replaceChildren(...items.map((t) => el("li", null, t)));
    setHidden(card, !items.length);
  });

  for (const offer of offers) {
    offer.button.addEventListener("click", () => send({ type: offer.command }));
  }
}

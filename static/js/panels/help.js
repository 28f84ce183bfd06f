// "How to play": the game's figures and unlock rules from the server's config. The template
// renders them too; this keeps them right if the config in the snapshot says otherwise.

import { $, el, setText } from "../dom.js";
import { countWord, dollars } from "../format.js";

export function mountHelp(store) {
  const { game } = store;

  store.subscribe("snapshot", ({ configChanged }) => {
    if (!configChanged) return;
    const cfg = game.config;
    $("unlock-rules").replaceChildren(...cfg.unlock_rules.map((r) => el("li", null, r)));
    setText($("rev"), dollars(cfg.revenue_per_cycle));
    setText($("fail"), dollars(cfg.failure_cost));
    setText($("fail-down"), cfg.failure_downtime);
    setText($("maint"), dollars(cfg.maintenance_cost));
    setText($("maint-down"), cfg.maintenance_downtime);
    setText($("prev-cycle"), cfg.preventative_cycle);
    setText($("rul-thr"), cfg.rul_threshold);
    setText($("n-channels"), cfg.feature_names.length);
    for (const node of document.querySelectorAll("[data-count=slots]")) {
      setText(node, countWord(cfg.n_slots));
    }
    setText($("competitors"), competitorsSentence(cfg, game.state));
  });
}

// "Three competitor factories race you (A, B, C); they can never use the federated model."
export function competitorsSentence(cfg, state) {
  const names = cfg.competitor_names ?? state.factories.filter((f) => !f.is_player).map((f) => f.name);
  const n = cfg.n_competitors ?? names.length;
  const word = countWord(n);
  const noun = n === 1 ? "competitor factory races" : "competitor factories race";
  const list = names.length ? ` (${names.join(", ")})` : "";
  const they = n === 1 ? "it can" : "they can";
  return `${word.charAt(0).toUpperCase()}${word.slice(1)} ${noun} you${list}; ${they} never use the federated model.`;
}

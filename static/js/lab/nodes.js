// The nodes of the last round: a grid coloured by state for up to GRID_MAX nodes, and counts
// for any number (thousands of nodes are summed up, not drawn).

import { setText } from "../dom.js";

export const GRID_MAX = 100;
const ORDER = ["refused", "rejected", "attacker", "straggled", "dropped", "participated", "idle"];
const WORDS = {
  participated: "participated",
  dropped: "dropped out",
  straggled: "straggled",
  attacker: "attacker",
  rejected: "rejected",
  refused: "refused to mask",
  idle: "not sampled",
};

// Every node's state in `record`, the strongest first: a rejected attacker shows as rejected, and
// a node whose own client refused to mask its update (secure aggregation; it is in `rejected`
// too) as refused.
export function nodeStates(record, n) {
  const states = new Array(n).fill("idle");
  const lists = {
    participated: record.participants,
    dropped: record.dropped,
    straggled: record.stragglers,
    attacker: record.attackers,
    rejected: record.rejected,
    refused: record.refused,
  };
  for (const state of [...ORDER].reverse()) {
    for (const i of lists[state] || []) if (i >= 0 && i < n) states[i] = state;
  }
  return states;
}

export class NodeGrid {
  constructor(grid, counts) {
    this.grid = grid;
    this.counts = counts;
    this.n = 0;
    this.cells = [];
  }

  reset(n) {
    this.n = n;
    this.cells = [];
    const cells = [];
    if (n <= GRID_MAX) {
      for (let i = 0; i < n; i++) {
        const cell = document.createElement("div");
        cell.className = "node s-idle";
        cell.setAttribute("role", "listitem");
        cell.textContent = String(i);
        cell.title = `node ${i}`;
        cells.push(cell);
      }
    }
    this.cells = cells;
    this.grid.replaceChildren(...cells);
    this.grid.hidden = n > GRID_MAX;
    setText(this.counts, n > GRID_MAX ? `${n} nodes: too many to draw, counted below.` : "");
  }

  show(record) {
    const states = nodeStates(record, this.n);
    const tally = Object.fromEntries(ORDER.map((s) => [s, 0]));
    states.forEach((state, i) => {
      tally[state] += 1;
      const cell = this.cells[i];
      if (cell && cell.__state !== state) {
        cell.__state = state;
        cell.className = `node s-${state}`;
        cell.setAttribute("aria-label", `node ${i}: ${WORDS[state]}`);
      }
    });
    const attackers = (record.attackers || []).length;
    const took = (record.participants || []).length;
    // a round nobody took part in is easy to miss in a list of counts: say it in words
    const nobody = took === 0 ? "no node took part this round, " : "";
    const parts = [`Round ${record.round}: ${nobody}${took} participated`];
    parts.push(`${(record.dropped || []).length} dropped out`);
    parts.push(`${(record.stragglers || []).length} straggled`);
    parts.push(`${attackers} attacked`);
    // a refused node is also in `rejected`: counted once, as refused
    const refused = new Set(record.refused || []);
    const ruled = (record.rejected || []).filter((i) => !refused.has(i)).length;
    if (refused.size || record.threshold != null) {
      parts.push(`${refused.size} refused to mask (not finite or out of range)`);
    }
    parts.push(`${ruled} rejected by the rule`);
    parts.push(`${tally.idle} not sampled`);
    setText(this.counts, `${parts.join(", ")} (of ${this.n} nodes).`);
    return tally;
  }
}

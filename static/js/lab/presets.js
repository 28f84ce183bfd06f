// Four recipes for a newcomer: each sets a few fields (the rest back to their defaults) and says
// in one sentence what to watch. "Attack it" and "Defend it" are the README's attack lesson
// (bench.lab_lesson: 20% boosted attackers against FedAvg, then the median); "Make it private"
// is bench.privacy's setting (clip 0.5, a quarter of the nodes a round); "Go big" takes the
// fast ff09 model to thousands of nodes.

export const PRESETS = [
  {
    id: "attack",
    name: "Attack it",
    values: { aggregation: "fedavg", attack: "scale", attackers: 0.2 },
    watch:
      "16 of the 80 factories send their update boosted 10 times and FedAvg averages it in: " +
      "watch the late-life RMSE (orange) climb and the profit in the headline fall, then try " +
      "Defend it.",
  },
  {
    id: "defend",
    name: "Defend it",
    values: { aggregation: "median", attack: "scale", attackers: 0.2 },
    watch:
      "The same 16 boosted attackers, but the server takes the coordinate-wise median, which " +
      "leaves outliers out: watch the late-life RMSE (orange) stay near a clean run's.",
  },
  {
    id: "private",
    name: "Make it private",
    values: { sample_fraction: 0.25, dp_noise: 1, dp_clip: 0.5 },
    watch:
      "A quarter of the factories a round, each update clipped and the sum noised: watch ε, " +
      "the privacy spent (dashed line, right axis), grow round by round, and what the noise " +
      "costs in RMSE.",
  },
  {
    id: "big",
    name: "Go big",
    values: { model: "ff09", nodes: 2000, rounds: 10, sample_fraction: 0.5 },
    watch:
      "2,000 factories, half of them asked each round: the node grid turns into counts, and " +
      "the cost chart shows the seconds and megabytes a round takes at this scale.",
  },
];

// The recipe buttons in `box`; `choose(preset)` runs when one is pressed.
export class PresetButtons {
  constructor(box, choose) {
    this.buttons = PRESETS.map((preset) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "btn";
      button.textContent = preset.name;
      button.setAttribute("data-testid", `preset-${preset.id}`);
      button.addEventListener("click", () => choose(preset));
      return button;
    });
    box.append(...this.buttons);
  }

  setDisabled(disabled) {
    for (const button of this.buttons) button.disabled = disabled;
  }
}

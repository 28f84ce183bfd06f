// Help for every field of the lab's form, reachable by keyboard and touch (a title tooltip is
// neither): each field gets a small "?" button that shows or hides a sentence under it
// (aria-expanded, aria-controls). The sentences say what the setting does and what to expect.

export const HELP = {
  model:
    "The model every factory trains. window: a small network over the last 30 cycles of " +
    "sensor readings (the game's own). ff09: the FF09 report's tiny network on one cycle, " +
    "about ten times faster to train and less accurate.",
  nodes:
    "How many factories (nodes) take part, 8 to 8000. Each trains on its own engines; above " +
    "80 the engines are shared out again. More nodes, longer rounds.",
  partition:
    "How the engines are dealt to the factories. iid: at random. unbalanced: some factories " +
    "get many more engines. By fault mode or operating condition: each factory sees one kind " +
    "only (non-IID), which is harder for a shared model.",
  rounds:
    "How many times the server collects the factories' models and combines them. Each round " +
    "is one point on the charts.",
  local_epochs:
    "How many passes each factory makes over its own data in a round before sending its " +
    "model. More epochs: faster progress per round, but factories drift apart.",
  lr: "The factories' learning rate (Adam). 0.003 is tuned; much larger and training diverges.",
  sample_fraction:
    "The share of factories asked to train each round (1 = all). Under differential privacy, " +
    "sampling fewer per round spends less privacy.",
  dropout:
    "The chance that an asked factory drops out of a round (a network failure). At 0.99 most " +
    "rounds have nobody and the model stays as it was.",
  deadline:
    "Simulated seconds the server waits for the factories; slower ones straggle and are left " +
    "out of the round. Empty: wait for everyone.",
  aggregation:
    "How the server combines the models. FedAvg: the average, weighted by data. FedProx, " +
    "FedAvgM, FedAdam: variants for non-IID data. Median, trimmed mean, Krum: robust rules " +
    "that resist attackers by leaving outliers out.",
  prox_mu:
    "FedProx: how strongly each factory's training is pulled back towards the global model " +
    "(0 is FedAvg).",
  server_lr:
    "FedAvgM and FedAdam: the size of the server's step along the averaged update (1 takes " +
    "the whole step).",
  server_momentum:
    "FedAvgM: how much of the previous rounds' update the server keeps adding (0 is FedAvg).",
  trim_fraction:
    "Trimmed mean: the share of the highest and of the lowest values dropped on each " +
    "coordinate before averaging. It resists as many attackers as it trims.",
  multi_krum:
    "Multi-Krum: how many of the most central models are averaged. Empty is plain Krum, " +
    "which keeps one model a round and rejects all the others, honest ones too.",
  attack:
    "What the attackers send instead of their honest model: the update reversed (sign flip), " +
    "boosted 10 times (scaled), with noise added, trained on wrong labels, NaN values, or " +
    "the global model back (free riders, who learn without contributing).",
  attackers:
    "The share of the factories that attack, up to half. 0.2 of 80 nodes is 16 attackers.",
  personalize:
    "After the last round, each factory fine-tunes the shared model on its own engines for " +
    "this many epochs; the result compares federated, personalized and local-only models.",
  seed:
    "The random seed (0 or more): the same seed and settings give the same run, so two " +
    "settings can be compared fairly.",
  dp_noise:
    "Differential privacy: the Gaussian noise added to the sum of the clipped updates, as a " +
    "multiple (sigma) of the clip norm. 0 is no privacy; more noise gives a smaller epsilon " +
    "(more private) and a worse model. Needs a clip norm.",
  dp_clip:
    "Differential privacy: every factory's update is scaled down to at most this length (L2 " +
    "norm), so no single factory can move the model much. 0.5 suits the window model.",
  dp_sampling:
    "Poisson: each factory is asked independently with the sample fraction (what the privacy " +
    "accountant assumes by default); uniform: a fixed number each round.",
  target_epsilon:
    "Stop training before the privacy spent (epsilon) would pass this budget. Needs noise.",
  secure_aggregation:
    "Mask the updates so that the server learns only their sum (Bonawitz et al. 2017). Costs " +
    "time that grows with the square of the factories per round; robust rules cannot run " +
    "under it.",
  compression:
    "How updates are encoded on the way up: full float32, 8 or 4 bits per value, only the " +
    "largest 5%, or a random 10%. Fewer bytes, a noisier model.",
  runtime:
    "Where it trains. In process: simulated factories in this server, fast. Flower " +
    "deployment: a SuperLink and one SuperNode process per factory on this machine (FF09 " +
    "model, FedAvg, 2 to 8 nodes, no attack or privacy); needs Flower on the server " +
    "(make install-flower).",
};

// The field's visible name: the label's own text, without the options of a select inside it.
function fieldName(label) {
  const text = [...label.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE);
  return text.map((n) => n.textContent).join(" ").trim();
}

// Wrap every `label.field` of `form` in a `.lab-field` with its help button and text. The
// label's `lab-opt` class and `data-for` (options of one rule) move to the wrapper, so the help
// hides with its field.
export function addHelp(form) {
  for (const label of [...form.querySelectorAll("label.field")]) {
    const input = label.querySelector("input, select");
    const text = input && HELP[input.name];
    if (!text) continue;
    const box = document.createElement("div");
    box.className = "lab-field";
    if (label.classList.contains("lab-opt")) {
      box.classList.add("lab-opt");
      box.dataset.for = label.dataset.for;
      label.classList.remove("lab-opt");
      delete label.dataset.for;
    }
    const help = document.createElement("p");
    help.id = `help-${input.name}`;
    help.className = "lab-help";
    help.setAttribute("data-testid", help.id);
    help.textContent = text;
    help.hidden = true;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "lab-help-btn";
    button.textContent = "?";
    button.setAttribute("aria-label", `Help: ${fieldName(label)}`);
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-controls", help.id);
    button.setAttribute("data-testid", `help-btn-${input.name}`);
    button.addEventListener("click", () => {
      const open = button.getAttribute("aria-expanded") !== "true";
      button.setAttribute("aria-expanded", String(open));
      help.hidden = !open;
    });
    label.replaceWith(box);
    box.append(label, button, help);
  }
}

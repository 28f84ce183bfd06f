"""A Federation Lab run (docs/lab.md, section 2): a federation trained round by round, under attack
or not, with the round's record streamed after each `step`.

The machinery is the game's factory models' (`factory_training.train_stages`): the protocol split
and the IID deal with the same seed, the family's seeded initial weights, `epoch_plan` minibatches
from a torch generator seeded `seed + 2`, the vectorized trainers, a fresh Adam per node per round,
and `HeldOutSet` scoring. So with FedAvg, no attack and every node taking part every round, the
lab's global model is `train_stages`' federated model (tested). What the lab adds, per round:
client sampling, dropouts, stragglers (`schedule`), attackers (`fl_engine.attacks`; label
poisoners train on flipped targets, `nodes`), and any server rule (`make_aggregator`).

Node losses (`node_loss_before`/`node_loss_after`) are in the trainer's units: mean squared error
of the standardized target (times `target.std`**2 gives cycles²), on a fixed sample of up to 128 of the node's own rows with their true targets:
before = with the model the node sent (an attacker's included), after = with the new global
model; null for nodes that did not train this round (stragglers are not simulated, only timed)
and where the loss is not finite (a NaN attacker's). `rmse`/`late_life_rmse` are of the global
model on the protocol's held-out engines, in cycles; null if not finite.

`cancel()` (any thread) stops the round under way between two batches of nodes (`LabNodes.train`):
`step` raises `limits.Cancelled`, and the run is over. `close()` also frees its training state.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from fl_engine.aggregation import make_aggregator
from fl_engine.calibration import Calibration
from fl_engine.data import Runs
from fl_engine.factory_types import FAMILY_DEFAULTS, FeatureScaling
from fl_engine.features import ProtocolData, prepare_protocol
from fl_engine.held_out import HeldOutSet
from fl_engine.lab.calibrate import lab_calibration
from fl_engine.lab.conditions import condition_protocol, condition_runs, has_conditions
from fl_engine.lab.config import LabConfig
from fl_engine.lab.limits import Cancelled, lab_work
from fl_engine.lab.local_round import RoundTraining, train_participants
from fl_engine.lab.memory import release_memory
from fl_engine.lab.nodes import LabNodes
from fl_engine.lab.notes import run_notes
from fl_engine.lab.personalize import personalized_scores
from fl_engine.lab.schedule import choose_attackers, plan_round
from fl_engine.lab.server_round import RoundServer
from fl_engine.local_training import AdamConfig
from fl_engine.model_families import family_of
from fl_engine.partition import PARTITIONS, by_condition

BASE_NODES = 80  # distinct partitions; above this many nodes they are replicated
N_TEST_ENGINES = 80


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


class LabRun:
    """One lab run; `step()` plays a round and returns its record (see the module docstring)."""

    def __init__(self, runs: Runs, config: LabConfig, data_dir: Path | None = None) -> None:
        """`runs`: the game's data (FD001+FD003). The "condition" partition trains on FD002+FD004
        instead: `runs` when it holds them, else loaded from `data_dir` or the embedded copy."""
        self.config = config
        self.rounds_done = 0
        self.records: list[dict[str, Any]] = []
        self.condition: NDArray[np.intp] | None = None
        self.node_conditions: list[list[int]] = []
        if config.partition == "condition":
            cond = condition_protocol(
                runs if has_conditions(runs) else condition_runs(data_dir), config.seed
            )
            data, self.condition = cond.protocol, cond.condition
        else:
            data = prepare_protocol(runs, config.seed, N_TEST_ENGINES)
        self.data: ProtocolData = data
        self.normalization = "condition" if config.partition == "condition" else "global"
        self.features = FeatureScaling(data.feature_names, data.feature_mean, data.feature_std)
        self.family = family_of(config.model, {"n_features": data.n_features})
        self.target = self.family.target_scale(data)
        self.n_base = min(config.nodes, BASE_NODES)
        self.partition = self._partition()  # each base node's protocol rows
        self._nodes: LabNodes | None = None
        self._busy = threading.Lock()  # held by the round under way
        self._closing = False
        self.test = HeldOutSet(data, self.family)
        self.batch_size = int(FAMILY_DEFAULTS[config.model]["batch_size"])
        self.adam = AdamConfig(lr=config.lr, prox_mu=config.adam_prox_mu())
        self.init = self.family.initial_params(config.seed)
        self._params = self.init.clone()
        self.n_params = int(self.init.numel())
        self.generator = torch.Generator().manual_seed(config.seed + 2)  # train_stages' federated
        self.attack_generator = torch.Generator().manual_seed(config.seed + 7)
        self.attackers = choose_attackers(config)
        self._is_attacker = np.zeros(config.nodes, dtype=bool)
        self._is_attacker[self.attackers] = True
        base_sizes = self.nodes.sizes.numpy().astype(np.float64)
        self.work = (base_sizes / base_sizes.mean())[np.arange(config.nodes) % self.n_base]
        f = len(self.attackers)
        self.aggregator = make_aggregator(
            config.aggregation,
            server_lr=config.server_lr,
            momentum=config.server_momentum,
            trim_fraction=config.trim_fraction,
            krum_byzantine=config.krum_byzantine if config.krum_byzantine is not None else f,
            multi_krum=config.multi_krum,
            seed=config.seed,
        )
        self.server = RoundServer(config, self.n_params, float(base_sizes.mean()))
        self._budget: tuple[int, bool] | None = None  # (rounds_done, budget allows one more)
        self._final: dict[str, Any] | None = None
        self._calibration: tuple[int, Calibration] | None = None
        self._cancel = threading.Event()

    estimate_work = staticmethod(lab_work)  # `config`'s work before any run is built

    def cancel(self) -> None:
        """Stop the round under way at its next check (from any thread); no round after it."""
        self._cancel.set()

    def _check(self) -> None:
        if self._cancel.is_set():
            raise Cancelled("the run was cancelled")

    def calibration(self) -> Calibration:
        """The global model's margin now, from its nodes' summed residual counts (kept per round)."""
        if self._calibration is None or self._calibration[0] != self.rounds_done:
            self._calibration = (self.rounds_done, lab_calibration(self))
        return self._calibration[1]

    def _partition(self) -> list[NDArray[np.intp]]:
        """The base nodes' rows: the engine deal of `train_stages` (same rng) or by condition."""
        data, rng = self.data, np.random.default_rng(self.config.seed)
        if self.condition is not None:
            engine_rows = [data.engine_rows[e] for e in data.train_engines]
            rows, self.node_conditions = by_condition(engine_rows, self.condition, self.n_base, rng)
            return rows
        rule = PARTITIONS[self.config.partition]
        engines = rule(data.train_engines, data.engine_groups(), self.n_base, rng)
        return [data.rows_of(p) for p in engines]

    @property
    def done(self) -> bool:
        """Every round played, or the privacy budget (`target_epsilon`) has no round left."""
        return self.rounds_done >= self.config.rounds or self.budget_spent

    @property
    def budget_spent(self) -> bool:
        """One more round would take epsilon past `target_epsilon`."""
        if self._budget is None or self._budget[0] != self.rounds_done:
            self._budget = (self.rounds_done, self.server.budget_allows())
        return not self._budget[1]

    def global_params(self) -> Tensor:
        """The global model now [n_params] (a copy)."""
        return self._params.clone()

    def step(self) -> dict[str, Any]:
        """Play one round and return its record; a ValueError once every round is played."""
        with self._busy:
            try:
                return self._step()
            except Cancelled:
                pass  # raised afresh below: this one's traceback holds the round's tensors
            finally:
                if self._closing:  # closed meanwhile: free what the round held
                    self._release()
        raise Cancelled("the run was cancelled")

    def _step(self) -> dict[str, Any]:
        if self.budget_spent:
            raise ValueError(
                f"the privacy budget is spent: another round would take epsilon past "
                f"target_epsilon={self.config.target_epsilon}"
            )
        if self.done:
            raise ValueError(f"the run has played all its {self.config.rounds} rounds")
        self._check()
        start = time.perf_counter()
        cfg, g = self.config, self._params
        round_no = self.rounds_done + 1
        plan = plan_round(cfg, round_no, self.work)
        part = plan.participants
        base = torch.as_tensor(part % self.n_base, dtype=torch.long)
        before: list[float | None] = [None] * cfg.nodes
        after: list[float | None] = [None] * cfg.nodes
        # Every round reaches the server, an empty one too: under DP it is a release like any
        # other (the noise alone), accounted as one.
        sent = train_participants(self._training(), g, part, base) if len(part) else g[None][:0]
        self._check()
        weights = self.nodes.sizes[base].to(g.dtype)
        got = self.server.deliver(
            g, sent, weights, part, len(plan.stragglers), len(plan.sampled), round_no
        )
        rejected = [int(part[i]) for i in got.rejected]
        if got.failure is None and len(got.models):
            outcome = self.aggregator(g, got.models, got.weights)
            if got.per_client:
                rejected = [int(part[i]) for i in outcome.rejected]
            self._params = outcome.params.detach().clone()
        if len(part):
            uniq, inverse = torch.unique(base, return_inverse=True)
            stop = self._cancel.is_set
            new = self.nodes.losses(self._params.expand(len(uniq), -1), uniq, stop)[inverse]
            sent_losses = self.nodes.losses(sent, base, stop)
            for node, b, a in zip(part.tolist(), sent_losses.tolist(), new.tolist(), strict=True):
                before[node], after[node] = _finite(b), _finite(a)
        scores = self.test.scores(self._params[None], self.target.to_cycles)
        self.rounds_done = round_no
        record = {
            "round": round_no,
            "rmse": _finite(scores["rmse"][0]),
            "late_life_rmse": _finite(scores["late_life_rmse"][0]),
            "capped_rmse": _finite(scores["capped_rmse"][0]),
            "participants": part.tolist(),
            "dropped": plan.dropped.tolist(),
            "stragglers": plan.stragglers.tolist(),
            "attackers": part[self._is_attacker[part]].tolist(),
            "rejected": rejected,
            "node_loss_before": before,
            "node_loss_after": after,
            "bytes_up": got.bytes_up,
            "bytes_down": got.bytes_down,
            "epsilon": self.server.epsilon,
            "clip": got.clip,
            "failure": got.failure,
            "noise_multiplier": got.noise_multiplier,
            "count_noise_multiplier": got.count_noise_multiplier,
            "sampling_rate": self.server.sampling_rate if cfg.dp_noise > 0 else None,
            "threshold": got.threshold,
            "refused": [int(part[i]) for i in got.refused],
            "simulated_seconds": plan.simulated_seconds,
            "seconds": time.perf_counter() - start,
        }
        self.records.append(record)
        return record

    def _training(self) -> RoundTraining:
        return RoundTraining(
            self.config, self.nodes, self.adam, self.batch_size, self.generator,
            self.attack_generator, self._is_attacker, self._cancel.is_set,
        )  # fmt: skip

    @property
    def nodes(self) -> LabNodes:
        """The nodes' data: built with the run, dropped by `close`, rebuilt if asked again."""
        if self._nodes is None:
            cfg = self.config
            self._nodes = LabNodes(self.family, self.data, self.target, self.partition, cfg.seed)
        return self._nodes

    def close(self) -> None:
        """The run is over: cancel any round under way, free the training state and the
        allocator's free pages (`memory`). A closed run still scores, calibrates and deploys."""
        self.cancel()
        self._closing = True
        if self._busy.acquire(blocking=False):  # else the round under way frees it as it stops
            self._release()
            self._busy.release()

    def _release(self) -> None:
        self._nodes = None
        self.server.compressor = None  # top-k's residuals: [nodes, n_params]; no round follows
        release_memory()

    @property
    def closed(self) -> bool:
        """Always: the rounds run in the caller's threads, which `cancel` frees."""
        return True

    def run(self) -> list[dict[str, Any]]:
        """Play every round left; their records."""
        played = []
        while not self.done:
            played.append(self.step())
        return played

    def final(self) -> dict[str, Any]:
        """The global model's test scores now and, with `personalize` > 0, per factory (distinct
        partition) the federated, personalized and local RMSE on its own kind of test rows
        (`personalize.personalized_scores`). Computed once the run is done, then kept."""
        if self._final is not None:
            return self._final
        scores = self.test.scores(self._params[None], self.target.to_cycles)
        out: dict[str, Any] = {
            "rmse": _finite(scores["rmse"][0]),
            "late_life_rmse": _finite(scores["late_life_rmse"][0]),
            "capped_rmse": _finite(scores["capped_rmse"][0]),
            "rounds_done": self.rounds_done,
            "epsilon": self.server.epsilon,
            "delta": self.config.delta if self.config.dp_noise > 0 else None,
            "stopped": "privacy budget spent" if self.budget_spent else None,
            "personalized": personalized_scores(self) if self.config.personalize > 0 else [],
            "notes": run_notes(self.config, self.records),
        }
        if self.done:
            self._final = out
        return out

    def record(self) -> dict[str, Any]:
        """{"config", "rounds", "final"}: what the CLI writes and the browser gets, JSON-able."""
        rounds = list(self.records)
        return {"config": self.config.model_dump(), "rounds": rounds, "final": self.final()}

    def predict(self, x: Tensor, engine_rows: list[NDArray[np.intp]]) -> NDArray[np.float64]:
        """The global model's RUL in cycles (floored at 0), as the game's models give it: x [rows,
        features] standardized with `features` (per condition for the condition partition), each
        engine's positions in x in cycle order -> [rows]."""
        inputs = self.family.inputs(x, engine_rows)
        out: NDArray[np.float64] = self.target.to_cycles(
            self.family.predict(self._params[None], inputs)
        )[0]
        return out

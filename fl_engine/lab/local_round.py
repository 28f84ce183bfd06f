"""One lab round's local training: every participant trains from the global model, then the
attackers replace what they send (`fl_engine.attacks`; label poisoners train on flipped targets).

Kept apart from `run` (the round's bookkeeping) so each stays small; `LabRun.step` calls it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from fl_engine.attacks import attacked
from fl_engine.lab.config import LabConfig
from fl_engine.lab.nodes import LabNodes
from fl_engine.local_training import AdamConfig, epoch_plan


@dataclass(frozen=True)
class RoundTraining:
    """What local training reads of a run (its generators advance: the draws are the run's)."""

    config: LabConfig
    nodes: LabNodes
    adam: AdamConfig
    batch_size: int
    generator: torch.Generator  # the minibatch plans (`train_stages`' seed + 2)
    attack_generator: torch.Generator
    is_attacker: NDArray[np.bool_]  # [nodes]
    cancel: Callable[[], bool]


def train_participants(t: RoundTraining, g: Tensor, part: NDArray[np.intp], base: Tensor) -> Tensor:
    """The models sent [k, n_params] in `part` order, from global g [n_params]; base [k] each
    participant's base node. `Cancelled` between batches of nodes once `t.cancel()` is true."""
    cfg = t.config
    plans = [  # [k, steps, batch] each
        epoch_plan(t.nodes.sizes[base], t.batch_size, t.generator) for _ in range(cfg.local_epochs)
    ]
    trained = g.unsqueeze(0).repeat(len(part), 1)  # [k, n_params]
    attacking = t.is_attacker[part]
    poisoned = attacking if cfg.attack == "label" else np.zeros(len(part), dtype=bool)
    if poisoned.any():
        for mask, poison in ((~poisoned, False), (poisoned, True)):
            idx = torch.as_tensor(np.flatnonzero(mask), dtype=torch.long)
            sub = trained[idx]
            t.nodes.train(sub, base[idx], [p[idx] for p in plans], t.adam, poison, t.cancel)
            trained[idx] = sub
    else:
        t.nodes.train(trained, base, plans, t.adam, False, t.cancel)
    if attacking.any() and cfg.attack != "label":
        idx = torch.as_tensor(np.flatnonzero(attacking), dtype=torch.long)
        trained[idx] = attacked(
            cfg.attack,
            g,
            trained[idx],
            scale=cfg.attack_scale,
            noise_std=cfg.noise_std,
            generator=t.attack_generator,
        )
    return trained

"""The model families a factory can train: what differs between FF09's MLP and the window model.

A family says how to start (seeded initial parameters), what a model reads (one row, or a window
of rows), what it learns (standardized RUL, capped or not), how to train many nodes at once and
how its weights are named on disk. Everything else (rounds, FedAvg, metrics, files) is shared.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from fl_engine.arrays import FloatArray, IndexArray
from fl_engine.features import ProtocolData
from fl_engine.flat_params import FunctionalModel
from fl_engine.functional_training import FUNCTIONAL_TRAINERS, NodeSamples, SampleTable
from fl_engine.local_training import TRAINERS, AdamConfig, NodeData
from fl_engine.model import MLPConfig, forward, init_params, make_mlp, with_bias_column
from fl_engine.rounds import Stage
from fl_engine.window import WindowConfig, WindowNet, capped_rul, make_window_net, window_rows


@dataclass(frozen=True)
class TargetScale:
    """Standardization of the training target, from the training engines only."""

    mean: float
    std: float
    cap: float | None  # RUL capped at this value before standardizing; None = not capped

    def encode(self, rul: FloatArray) -> Tensor:
        capped = rul if self.cap is None else capped_rul(rul, self.cap)
        return torch.as_tensor((capped - self.mean) / self.std, dtype=torch.float32)

    def to_cycles(self, y: Tensor) -> FloatArray:
        """Standardized predictions -> RUL in cycles, floored at 0 (a RUL cannot be negative)."""
        return np.maximum(y.detach().numpy().astype(np.float64) * self.std + self.mean, 0.0)

    @classmethod
    def fit(cls, rul: FloatArray, cap: float | None) -> TargetScale:
        capped = rul if cap is None else capped_rul(rul, cap)
        return cls(float(capped.mean()), float(capped.std()), cap)


class Family(Protocol):
    """What a model family provides; parameters are flat rows [..., n_params] throughout."""

    name: str

    def describe(self) -> dict[str, Any]:
        """The architecture, JSON-able (saved with the models, read back by `family_of`)."""
        ...

    def target_scale(self, data: ProtocolData) -> TargetScale: ...

    def initial_params(self, seed: int) -> Tensor:
        """Seeded initial weights [n_params]: every model of a set starts from these."""
        ...

    def inputs(self, x: Tensor, engine_rows: list[IndexArray]) -> Tensor:
        """Model inputs [rows, ...] from standardized features x [rows, features], given each
        engine's positions in x in cycle order (a window reads only its own engine's past)."""
        ...

    def predict(self, params: Tensor, inputs: Tensor) -> Tensor:
        """Standardized predictions of many models: params [k, n_params] -> [k, rows]."""
        ...

    def stages(
        self,
        data: ProtocolData,
        y: Tensor,
        node_rows: list[IndexArray],
        adam: AdamConfig,
        trainer: str,
    ) -> tuple[Stage, Stage]:
        """(one node holding every row of `node_rows`, the nodes), bound to the family's trainer
        ("vectorized" or "loop"); y [protocol rows] is the standardized target."""
        ...

    def to_state(self, params: Tensor) -> dict[str, Tensor]:
        """Flat [*lead, n_params] -> the module's named tensors [*lead, *shape] (for files)."""
        ...

    def from_state(self, state: dict[str, Tensor], lead: tuple[int, ...]) -> Tensor:
        """The inverse of `to_state`; a ValueError names any missing or misshapen tensor."""
        ...


class FF09Family:
    """FF09's 16-48-1 MLP on single time steps, standardized uncapped RUL, its own trainers."""

    name = "ff09"

    def __init__(self, mlp: MLPConfig | None = None) -> None:
        self.mlp = mlp or MLPConfig()
        self.named = FunctionalModel.of(make_mlp(self.mlp)).layout  # names on disk

    def describe(self) -> dict[str, Any]:
        return {"family": self.name, **asdict(self.mlp)}

    def target_scale(self, data: ProtocolData) -> TargetScale:
        return TargetScale(data.target_mean, data.target_std, None)

    def initial_params(self, seed: int) -> Tensor:
        return init_params(self.mlp, seed)

    def inputs(self, x: Tensor, engine_rows: list[IndexArray]) -> Tensor:
        return x  # [rows, features]

    def predict(self, params: Tensor, inputs: Tensor) -> Tensor:
        with torch.no_grad():
            x = with_bias_column(inputs).expand(len(params), -1, -1)
            return forward(self.mlp, params, x)

    def stages(
        self,
        data: ProtocolData,
        y: Tensor,
        node_rows: list[IndexArray],
        adam: AdamConfig,
        trainer: str,
    ) -> tuple[Stage, Stage]:
        def stage(rows: list[IndexArray]) -> Stage:
            nodes = NodeData.from_rows(data.x, y, rows)
            every = torch.arange(nodes.n_nodes)

            def train(params: Tensor, plans: list[Tensor]) -> None:
                TRAINERS[trainer](params, nodes, every, plans, self.mlp, adam)

            assert nodes.source is not None  # built by from_rows
            return Stage(train, nodes.sizes, nodes.source)

        return stage([np.concatenate(node_rows)]), stage(node_rows)

    def to_state(self, params: Tensor) -> dict[str, Tensor]:
        """FF09's packed layout -> the `nn.Sequential`'s tensor names ("0.weight", ...)."""
        flat = params.reshape(-1, params.shape[-1])
        generic = torch.stack([self.named.flatten(self.mlp.layout.to_state_dict(p)) for p in flat])
        return self.named.to_state_dict(generic.reshape(params.shape))

    def from_state(self, state: dict[str, Tensor], lead: tuple[int, ...]) -> Tensor:
        generic = self.named.flatten(state, lead).reshape(-1, self.named.n_params)
        rows = [self.mlp.layout.from_state_dict(self.named.to_state_dict(g)) for g in generic]
        return torch.stack(rows).reshape(*lead, -1)


class WindowFamily:
    """`window.WindowNet` on the last 30 cycles, RUL capped at 125, the `torch.func` trainers."""

    name = "window"

    def __init__(self, cfg: WindowConfig | None = None) -> None:
        self.cfg = cfg or WindowConfig()
        self.model = FunctionalModel.of(WindowNet(self.cfg))

    def describe(self) -> dict[str, Any]:
        return {"family": self.name, **asdict(self.cfg)}

    def target_scale(self, data: ProtocolData) -> TargetScale:
        train_rows = data.rows_of(data.train_engines)
        return TargetScale.fit(data.runs.rul[train_rows], self.cfg.rul_cap)

    def initial_params(self, seed: int) -> Tensor:
        return FunctionalModel.of(make_window_net(self.cfg, seed)).initial_params()

    def inputs(self, x: Tensor, engine_rows: list[IndexArray]) -> Tensor:
        wr = torch.as_tensor(window_rows(engine_rows, len(x), self.cfg.window), dtype=torch.long)
        return x[wr]  # [rows, window, features]

    def predict(self, params: Tensor, inputs: Tensor) -> Tensor:
        return self.model.many(params, inputs)

    def stages(
        self,
        data: ProtocolData,
        y: Tensor,
        node_rows: list[IndexArray],
        adam: AdamConfig,
        trainer: str,
    ) -> tuple[Stage, Stage]:
        # One table of every training row's window, in node order; nodes index their own part.
        rows = np.concatenate(node_rows)
        wr = window_rows(data.engine_rows, data.runs.n_rows, self.cfg.window)[rows]
        table = SampleTable(
            data.x[torch.as_tensor(wr, dtype=torch.long)],  # [samples, window, features]
            y[torch.as_tensor(rows, dtype=torch.long)],
            torch.as_tensor(rows, dtype=torch.long),
        )
        positions = np.split(np.arange(len(rows)), np.cumsum([len(r) for r in node_rows])[:-1])

        def stage(groups: list[IndexArray]) -> Stage:
            nodes = NodeSamples.from_lists(groups)
            every = torch.arange(nodes.n_nodes)

            def train(params: Tensor, plans: list[Tensor]) -> None:
                FUNCTIONAL_TRAINERS[trainer](self.model, params, table, nodes, every, plans, adam)

            row_ids = torch.where(nodes.rows >= 0, table.source[nodes.rows.clamp(min=0)], -1)
            return Stage(train, nodes.sizes, row_ids)

        return stage([np.arange(len(rows))]), stage(positions)

    def to_state(self, params: Tensor) -> dict[str, Tensor]:
        return self.model.layout.to_state_dict(params)

    def from_state(self, state: dict[str, Tensor], lead: tuple[int, ...]) -> Tensor:
        return self.model.layout.flatten(state, lead)


def family_of(name: str, describe: dict[str, Any] | None = None) -> Family:
    """The family called `name`, with the architecture `describe` gave (default: the standard)."""
    spec = {k: v for k, v in (describe or {}).items() if k != "family"}
    if name == "ff09":
        return FF09Family(MLPConfig(**spec))
    if name == "window":
        return WindowFamily(WindowConfig(**spec))
    raise ValueError(f"unknown model family {name!r}; choose ff09 or window")

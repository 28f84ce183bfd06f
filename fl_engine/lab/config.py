"""The Federation Lab's settings (docs/lab.md, section 2), checked with errors a player can act on.

The CLI and the web lab take these from users, so a bad value must say what is wrong in words
("nodes must be between 8 and 8000, got 9000"), not pydantic's generic wording. `lab_config`
turns any mapping into a `LabConfig` or one `LabConfigError` listing every problem.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

MIN_NODES, MAX_NODES = 8, 8000
# (low, high) inclusive bounds of the whole-number settings
INT_RANGES: dict[str, tuple[int, int]] = {
    "nodes": (MIN_NODES, MAX_NODES),
    "rounds": (1, 500),
    "local_epochs": (1, 20),
    "personalize": (0, 50),
}

Aggregation = Literal["fedavg", "fedprox", "fedavgm", "fedadam", "median", "trimmed_mean", "krum"]
Attack = Literal["none", "sign_flip", "scale", "noise", "label", "nan", "free_ride"]
Compression = Literal["none", "int8", "int4", "topk", "mask"]
# Rules that average (and then step): DP-FedAvg's noisy sum and secure aggregation's sum feed them;
# the robust rules need every client's own model, which both hide by design.
AVERAGING = ("fedavg", "fedprox", "fedavgm", "fedadam")
MAX_SECAGG_CLIENTS = 200  # quadratic: ~5 s a round at 200 clients, ~2 min at 800 (docs/lab.md, 5)


class LabConfigError(ValueError):
    """A lab configuration was refused; the message lists every problem, one per line."""


class LabConfig(BaseModel):
    """One lab run's settings; see docs/lab.md for each field's meaning."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: Literal["window", "ff09"] = "window"
    nodes: int = 80
    rounds: int = 20
    local_epochs: int = 1
    lr: float = 3e-3
    partition: Literal["iid", "unbalanced", "fault_mode", "condition"] = "iid"
    sample_fraction: float = 1.0
    dropout: float = 0.0
    deadline: float | None = None
    aggregation: Aggregation = "fedavg"
    prox_mu: float = 0.01
    server_lr: float = 1.0
    server_momentum: float = 0.9
    trim_fraction: float = 0.1
    krum_byzantine: int | None = None
    multi_krum: int | None = None
    attack: Attack = "none"
    attackers: float = 0.0
    attacker_nodes: list[int] = []
    attack_scale: float = 10.0
    noise_std: float = 1.0
    personalize: int = 0
    seed: int = 0
    # privacy and communication (issue 12; docs/lab.md, section 5)
    dp_noise: float = 0.0  # sigma, the Gaussian noise multiplier of DP-FedAvg
    dp_clip: float | None = None  # C, every client's update clipped to this L2 norm
    dp_adaptive_clip: bool = False  # C follows a private quantile of the norms (Andrew et al.)
    dp_target_quantile: float = 0.5
    dp_delta: float | None = None  # default 1 / nodes**1.1
    dp_sampling: Literal["poisson", "uniform"] = "poisson"
    target_epsilon: float | None = None  # stop before the budget would be exceeded
    secure_aggregation: bool = False
    secagg_threshold: float | None = None  # share of a round's clients needed to unmask; 2/3
    compression: Compression = "none"
    topk_fraction: float = 0.05
    mask_fraction: float = 0.1

    @field_validator("nodes", "rounds", "local_epochs", "personalize")
    @classmethod
    def _in_range(cls, value: int, info: Any) -> int:
        low, high = INT_RANGES[info.field_name]
        if not low <= value <= high:
            raise ValueError(f"{info.field_name} must be between {low} and {high}, got {value}")
        return value

    @field_validator(
        "lr", "sample_fraction", "dropout", "deadline", "prox_mu", "server_lr", "server_momentum",
        "trim_fraction", "attackers", "attack_scale", "noise_std", "dp_noise", "dp_clip",
        "dp_target_quantile", "dp_delta", "target_epsilon", "secagg_threshold", "topk_fraction",
        "mask_fraction",
    )  # fmt: skip
    @classmethod
    def _finite(cls, value: float | None, info: Any) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError(f"{info.field_name} must be a finite number, got {value}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> LabConfig:
        problems = _number_problems(self) + _attack_problems(self) + _krum_problems(self)
        problems += _privacy_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def attacker_count(self) -> int:
        """How many nodes attack: the named ones, else `attackers` of the nodes, rounded."""
        if self.attack == "none":
            return 0
        return len(self.attacker_nodes) or int(self.attackers * self.nodes + 0.5)

    @property
    def differential_privacy(self) -> bool:
        """DP-FedAvg is on: noise, or at least clipping, is asked for."""
        return self.dp_noise > 0 or self.dp_clip is not None or self.dp_adaptive_clip

    @property
    def delta(self) -> float:
        """The delta epsilon is reported at: `dp_delta`, else 1 / nodes**1.1."""
        return self.dp_delta if self.dp_delta is not None else 1.0 / self.nodes**1.1

    @property
    def clip(self) -> float:
        """The (initial) clipping norm C."""
        return self.dp_clip if self.dp_clip is not None else 1.0

    def adam_prox_mu(self) -> float:
        """The proximal term local training uses: `prox_mu` under FedProx, else none."""
        return self.prox_mu if self.aggregation == "fedprox" else 0.0


def _number_problems(c: LabConfig) -> list[str]:
    checks = [
        (0 < c.lr <= 1, f"lr must be above 0 and at most 1, got {c.lr}"),
        (
            0 < c.sample_fraction <= 1,
            f"sample_fraction must be above 0 and at most 1 (the share of nodes asked each "
            f"round), got {c.sample_fraction}",
        ),
        (
            0 <= c.dropout < 1,
            f"dropout must be at least 0 and below 1 (the chance a sampled node drops out), "
            f"got {c.dropout}",
        ),
        (
            c.deadline is None or c.deadline > 0,
            f"deadline must be a positive number of simulated seconds (or none), got {c.deadline}",
        ),
        (c.prox_mu >= 0, f"prox_mu must be at least 0, got {c.prox_mu}"),
        (c.server_lr > 0, f"server_lr must be above 0, got {c.server_lr}"),
        (
            0 <= c.server_momentum < 1,
            f"server_momentum must be at least 0 and below 1, got {c.server_momentum}",
        ),
        (
            0 <= c.trim_fraction < 0.5,
            "trim_fraction must be below 0.5 (it drops that share of the largest and of the "
            f"smallest values), got {c.trim_fraction}"
            if c.trim_fraction >= 0.5
            else f"trim_fraction must be at least 0, got {c.trim_fraction}",
        ),
        (c.noise_std >= 0, f"noise_std must be at least 0, got {c.noise_std}"),
    ]
    return [message for ok, message in checks if not ok]


def _attack_problems(c: LabConfig) -> list[str]:
    out = []
    if not 0 <= c.attackers <= 0.5:
        out.append(
            f"attackers must be between 0 and 0.5 (a share of the nodes; a majority of attackers "
            f"is not a federation), got {c.attackers}"
        )
    bad = [n for n in c.attacker_nodes if not 0 <= n < c.nodes]
    if bad:
        out.append(f"attacker_nodes must be node indices from 0 to {c.nodes - 1}, got {bad[0]}")
    if len(set(c.attacker_nodes)) != len(c.attacker_nodes):
        out.append("attacker_nodes names a node twice")
    if c.attacker_nodes and c.attackers > 0:
        out.append("give attackers (a share of the nodes) or attacker_nodes (by index), not both")
    if len(c.attacker_nodes) > c.nodes / 2:
        out.append(
            f"attacker_nodes names {len(c.attacker_nodes)} of {c.nodes} nodes; at most half "
            "may attack"
        )
    named = c.attackers > 0 or bool(c.attacker_nodes)
    if c.attack == "none" and named:
        out.append("attackers are given but attack is none: choose an attack, or no attackers")
    if c.attack != "none" and not named:
        out.append(f"attack {c.attack} needs attackers above 0 or attacker_nodes")
    if c.attack != "none" and named and c.attacker_count == 0:
        out.append(f"attackers={c.attackers} of {c.nodes} nodes rounds to no attacker at all")
    return out


def _krum_problems(c: LabConfig) -> list[str]:
    """Krum scores each model by its n - f - 2 nearest neighbours, so it needs n > f + 2 (Blanchard
    et al. prove robustness for n > 2f + 2); Multi-Krum averages m <= n - f of the best."""
    out = []
    f = c.krum_byzantine if c.krum_byzantine is not None else c.attacker_count
    if c.krum_byzantine is not None and c.krum_byzantine < 0:
        out.append(f"krum_byzantine must be at least 0, got {c.krum_byzantine}")
    elif c.aggregation == "krum" and 2 * f + 2 >= c.nodes:
        out.append(
            f"krum with krum_byzantine={f} needs more than {2 * f + 2} nodes (n > 2f + 2), "
            f"got {c.nodes}"
        )
    if c.multi_krum is not None:
        if c.multi_krum < 1:
            out.append(f"multi_krum must be at least 1, got {c.multi_krum}")
        elif c.multi_krum > c.nodes - f:
            out.append(
                f"multi_krum={c.multi_krum} must be at most nodes - krum_byzantine = {c.nodes - f}"
            )
    return out


def _privacy_problems(c: LabConfig) -> list[str]:
    """DP, secure aggregation and compression: each in range, and only where they compose."""
    out = []
    if not 0 <= c.dp_noise <= 100:
        out.append(f"dp_noise must be between 0 and 100 (sigma), got {c.dp_noise}")
    if c.dp_clip is not None and c.dp_clip <= 0:
        out.append(f"dp_clip must be above 0 (an L2 norm), got {c.dp_clip}")
    if c.dp_noise > 0 and c.dp_clip is None and not c.dp_adaptive_clip:
        out.append(
            "dp_noise needs dp_clip (the norm each update is clipped to) or dp_adaptive_clip"
        )
    if not 0 < c.dp_target_quantile < 1:
        out.append(f"dp_target_quantile must be between 0 and 1, got {c.dp_target_quantile}")
    if c.dp_delta is not None and not 0 < c.dp_delta < 1:
        out.append(f"dp_delta must be between 0 and 1, got {c.dp_delta}")
    if c.target_epsilon is not None and (c.target_epsilon <= 0 or c.dp_noise <= 0):
        out.append(
            "target_epsilon needs dp_noise above 0 (without noise no budget is ever met)"
            if c.target_epsilon > 0
            else f"target_epsilon must be above 0, got {c.target_epsilon}"
        )
    if c.differential_privacy and c.aggregation not in AVERAGING:
        out.append(
            f"differential privacy clips and noises the sum of the updates, which "
            f"{c.aggregation} never forms: choose {', '.join(AVERAGING)}"
        )
    if c.secure_aggregation and c.aggregation not in AVERAGING:
        out.append(
            f"secure aggregation shows the server only the sum of the updates, but "
            f"{c.aggregation} needs every client's own update: choose {', '.join(AVERAGING)}"
        )
    if c.secagg_threshold is not None and not (
        c.secure_aggregation and 0 < c.secagg_threshold <= 1
    ):
        out.append(
            f"secagg_threshold must be above 0 and at most 1 (a share of a round's clients), "
            f"got {c.secagg_threshold}"
            if c.secure_aggregation
            else "secagg_threshold needs secure_aggregation"
        )
    clients = c.nodes * c.sample_fraction
    if c.secure_aggregation and clients > MAX_SECAGG_CLIENTS:
        out.append(
            f"secure aggregation with {clients:.0f} clients a round: the protocol is quadratic in "
            f"them and stops at {MAX_SECAGG_CLIENTS} (lower nodes or sample_fraction)"
        )
    if c.secure_aggregation and c.dp_adaptive_clip:
        out.append(
            "dp_adaptive_clip with secure_aggregation: the server would need each client's "
            "clipped-or-not bit, which the protocol hides; give a fixed dp_clip"
        )
    if c.secure_aggregation and c.compression != "none":
        out.append(
            f"compression {c.compression} with secure aggregation: masking makes every "
            "coordinate a full 32-bit ring element, so nothing would be saved; choose one"
        )
    for name in ("topk_fraction", "mask_fraction"):
        value = getattr(c, name)
        if not 0 < value <= 1:
            out.append(f"{name} must be above 0 and at most 1, got {value}")
    return out


def lab_config(data: Mapping[str, Any]) -> LabConfig:
    """`LabConfig(**data)`, or a `LabConfigError` saying in words what is wrong with each field."""
    try:
        return LabConfig.model_validate(dict(data))
    except ValidationError as exc:
        raise LabConfigError(describe_errors(exc)) from None


def describe_errors(exc: ValidationError) -> str:
    """pydantic's errors as lines "field: what is wrong" (our own messages kept verbatim)."""
    lines = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = f"unknown setting {where!r}"
        elif error["type"] == "literal_error":
            message = f"{where} {message[0].lower()}{message[1:]}, got {error['input']!r}"
        elif where and not message.startswith(where):
            message = f"{where}: {message}"
        lines.extend(message.split("; "))
    return "\n".join(lines)

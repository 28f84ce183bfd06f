"""The Federation Lab's settings (docs/lab.md, section 2), checked with errors a player can act on.

The CLI and the web lab take these from users, so a bad value must say what is wrong in words
("nodes must be between 8 and 8000, got 9000"), not pydantic's generic wording. `lab_config`
turns any mapping into a `LabConfig` or one `LabConfigError` listing every problem.

Types are strict (issue 20): a whole number is an int (not `true`, not "5", not 5.0), a switch is
a bool (not "yes", not 1), a number is an int or a float; a value of another type is refused
naming the field, never coerced. The numbers that steer training have upper bounds: past them a
run only diverges, and a diverged model must never reach the game (`app.lab_bridge` refuses one).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from fl_engine.lab.composition import flower_problems, privacy_problems
from fl_engine.lab.field_types import accepted_types, shown

MIN_NODES, MAX_NODES = 8, 8000
# (low, high) inclusive bounds of the whole-number settings
INT_RANGES: dict[str, tuple[int, int]] = {
    "nodes": (2, MAX_NODES),  # at least MIN_NODES in process (`_number_problems`)
    "rounds": (1, 500),
    "local_epochs": (1, 20),
    "personalize": (0, 50),
    "seed": (0, 2**32 - 1),  # as the game's seeds; numpy refuses a negative one, mid-run
}
# Upper bounds of the server's and attackers' numbers, past which a run is only a divergence:
# FedAdam steps every coordinate by about server_lr (the weights are below 1), so above 10 it is
# no longer a learning rate; FedProx's mu above 10 pins every local model to the global one (Li
# et al. tune it in 0.001..1); an attack scale past 1e6 or a noise std past 1e3 only pushes the
# squared norms and distances the rules compute towards float32's limit (3.4e38). Measured at the
# bounds (FF09 and window, 8 nodes, 3 rounds): the models stay finite (test RMSE up to 1e25).
MAX_SERVER_LR, MAX_PROX_MU, MAX_ATTACK_SCALE, MAX_NOISE_STD = 10.0, 10.0, 1e6, 1e3

Aggregation = Literal["fedavg", "fedprox", "fedavgm", "fedadam", "median", "trimmed_mean", "krum"]
Attack = Literal["none", "sign_flip", "scale", "noise", "label", "nan", "free_ride"]
Compression = Literal["none", "int8", "int4", "topk", "mask"]


class LabConfigError(ValueError):
    """A lab configuration was refused; the message lists every problem, one per line."""


class LabConfig(BaseModel):
    """One lab run's settings; see docs/lab.md for each field's meaning."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

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
    # where it trains (issue 13): this process, or a Flower deployment of real processes
    runtime: Literal["inprocess", "flower-deployment"] = "inprocess"

    @field_validator("*", mode="before")
    @classmethod
    def _typed(cls, value: Any, info: Any) -> Any:
        """Refuse a value of the wrong type in words, before pydantic's generic wording."""
        accepted, words = _KINDS.get(info.field_name, ((), ""))
        if accepted and type(value) not in accepted:
            raise ValueError(f"{info.field_name} must be {words}, got {shown(value)}")
        if info.field_name == "attacker_nodes":
            wrong = [v for v in value if type(v) is not int]
            if wrong:
                raise ValueError(f"attacker_nodes must be node indices, got {shown(wrong[0])}")
        return value

    @field_validator("nodes", "rounds", "local_epochs", "personalize", "seed")
    @classmethod
    def _in_range(cls, value: int, info: Any) -> int:
        low, high = INT_RANGES[info.field_name]
        if not low <= value <= high:
            shown = MIN_NODES if info.field_name == "nodes" else low  # 2 only on Flower
            raise ValueError(f"{info.field_name} must be between {shown} and {high}, got {value}")
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
        problems += privacy_problems(self) + flower_problems(self)
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


# each field's accepted types (exact: a bool is no int here) and their name in words
_KINDS = {name: accepted_types(info.annotation) for name, info in LabConfig.model_fields.items()}


def _number_problems(c: LabConfig) -> list[str]:
    checks = [
        (
            c.nodes >= MIN_NODES or c.runtime != "inprocess",
            f"nodes must be between {MIN_NODES} and {MAX_NODES}, got {c.nodes} (fewer only on "
            "the flower-deployment runtime)",
        ),
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
        (
            0 <= c.prox_mu <= MAX_PROX_MU,
            f"prox_mu must be between 0 and {MAX_PROX_MU:g} (above, every local model is pinned "
            f"to the global one), got {c.prox_mu}",
        ),
        (
            0 < c.server_lr <= MAX_SERVER_LR,
            f"server_lr must be above 0 and at most {MAX_SERVER_LR:g} (above, the server's step "
            f"only diverges), got {c.server_lr}",
        ),
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
        (
            0 <= c.noise_std <= MAX_NOISE_STD,
            f"noise_std must be between 0 and {MAX_NOISE_STD:g} (above, the rules' squared norms "
            f"near float32's limit), got {c.noise_std}",
        ),
        (
            abs(c.attack_scale) <= MAX_ATTACK_SCALE,
            f"attack_scale must be between {-MAX_ATTACK_SCALE:,.0f} and {MAX_ATTACK_SCALE:,.0f} "
            f"(above, the rules' squared norms near float32's limit), got {c.attack_scale}",
        ),
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
            message = f"{where} {message[0].lower()}{message[1:]}, got {shown(error['input'])}"
        elif where and not message.startswith(where):
            message = f"{where}: {message}"
        lines.extend(message.split("; "))
    return "\n".join(lines)

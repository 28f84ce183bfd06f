"""Which lab settings compose (docs/lab.md, sections 5 and 6): differential privacy, secure
aggregation, compression and the Flower runtime, each in range and only where it can work.

Kept apart from `config` (the fields and their ranges) because these are rules across fields,
each with its reason in its message.
"""

from __future__ import annotations

from typing import Protocol


class LabSettings(Protocol):
    """What these rules read of a `LabConfig` (which calls them while it validates itself):
    read-only, as a frozen `LabConfig` is."""

    @property
    def model(self) -> str: ...

    @property
    def nodes(self) -> int: ...

    @property
    def partition(self) -> str: ...

    @property
    def sample_fraction(self) -> float: ...

    @property
    def dropout(self) -> float: ...

    @property
    def deadline(self) -> float | None: ...

    @property
    def aggregation(self) -> str: ...

    @property
    def attack(self) -> str: ...

    @property
    def personalize(self) -> int: ...

    @property
    def dp_noise(self) -> float: ...

    @property
    def dp_clip(self) -> float | None: ...

    @property
    def dp_adaptive_clip(self) -> bool: ...

    @property
    def dp_target_quantile(self) -> float: ...

    @property
    def dp_delta(self) -> float | None: ...

    @property
    def target_epsilon(self) -> float | None: ...

    @property
    def secure_aggregation(self) -> bool: ...

    @property
    def secagg_threshold(self) -> float | None: ...

    @property
    def compression(self) -> str: ...

    @property
    def topk_fraction(self) -> float: ...

    @property
    def mask_fraction(self) -> float: ...

    @property
    def runtime(self) -> str: ...

    @property
    def differential_privacy(self) -> bool: ...


# Rules that average (and then step): DP-FedAvg's noisy sum and secure aggregation's sum feed them;
# the robust rules need every client's own model, which both hide by design.
AVERAGING = ("fedavg", "fedprox", "fedavgm", "fedadam")
MAX_FLOWER_NODES = 8  # one SuperNode process (and its ClientApp executor) per node, on loopback
# A clipping norm past this clips no update a lab model sends and only scales the noise (its std
# is dp_noise * C) towards float32's limits (issue 20).
MAX_DP_CLIP = 1e6
MAX_SECAGG_CLIENTS = 200  # quadratic: ~5 s a round at 200 clients, ~2 min at 800 (docs/lab.md, 5)


def privacy_problems(c: LabSettings) -> list[str]:
    """DP, secure aggregation and compression: each in range, and only where they compose."""
    out = []
    if not 0 <= c.dp_noise <= 100:
        out.append(f"dp_noise must be between 0 and 100 (sigma), got {c.dp_noise}")
    if c.dp_clip is not None and not 0 < c.dp_clip <= MAX_DP_CLIP:
        out.append(
            f"dp_clip must be above 0 and at most {MAX_DP_CLIP:,.0f} (an L2 norm), got {c.dp_clip}"
        )
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


def flower_problems(c: LabSettings) -> list[str]:
    """A Flower deployment runs the FF09 protocol's federation as real processes: small, plain."""
    if c.runtime == "inprocess":
        return []
    plain = {
        "model": (c.model == "ff09", f"model ff09 (got {c.model})"),
        "aggregation": (c.aggregation == "fedavg", f"aggregation fedavg (got {c.aggregation})"),
        "partition": (c.partition != "condition", "the iid, unbalanced or fault_mode partition"),
        "sample_fraction": (c.sample_fraction == 1, "every node every round (sample_fraction 1)"),
        "dropout": (c.dropout == 0 and c.deadline is None, "no simulated dropouts or deadline"),
        "attack": (c.attack == "none", "no attack"),
        "personalize": (c.personalize == 0, "no personalization"),
        "dp_noise": (
            not (c.differential_privacy or c.secure_aggregation or c.compression != "none"),
            "no privacy or compression settings",
        ),
    }
    wrong = [need for ok, need in plain.values() if not ok]
    out = []
    if c.nodes > MAX_FLOWER_NODES:
        out.append(
            f"nodes must be at most {MAX_FLOWER_NODES} on runtime {c.runtime} (one SuperNode "
            f"process per node on this machine), got {c.nodes}"
        )
    if wrong:
        out.append(
            f"runtime {c.runtime} runs the FF09 federation as is: it needs {', '.join(wrong)}"
        )
    return out

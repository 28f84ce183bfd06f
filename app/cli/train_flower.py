"""`tycoon train` on a Flower runtime: the participation and privacy flags as `FlowerSpec` fields,
and the per-round Flower summary in metrics.json (issue 22).

Flags as `tycoon lab` names them (`--dp-noise --dp-clip --dp-delta --secure-aggregation`);
`--deadline` is Flower's round timeout in real seconds (the lab's `--deadline` is simulated).
They apply to the Flower runtimes only: the in-process `tycoon train` has no DP or secure
aggregation (`tycoon lab` does), so there they are refused in one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from fl_engine.experiment import ExperimentConfig
    from fl_engine.flower.spec import FlowerOutcome
    from fl_engine.flower.stage import FlowerStage

Deadline = Annotated[
    float | None,
    typer.Option(help="Flower: seconds a round waits for replies (Flower's round timeout)"),
]
DpNoise = Annotated[
    float, typer.Option(help="Flower: SIGMA, DP-FedAvg's noise multiplier (0: no DP)")
]
DpClip = Annotated[
    float | None, typer.Option(help="Flower: C, the L2 norm every update is clipped to (DP)")
]
DpDelta = Annotated[float | None, typer.Option(help="Flower: D, the delta epsilon is reported at")]
SecureAggregation = Annotated[
    bool, typer.Option(help="Flower: Flower's SecAgg+, the server learns only the sum")
]

# per-round fields of the ServerApp's records copied into metrics.json["flower"]
ROUND_FIELDS = (
    "sampled", "not_sampled", "offline", "dropped", "failed", "joined",
    "noise_multiplier", "noise_std", "epsilon",
)  # fmt: skip


def flower_options(
    runtime: str,
    cfg: ExperimentConfig,
    deadline: float | None,
    dp_noise: float,
    dp_clip: float | None,
    dp_delta: float | None,
    secure_aggregation: bool,
) -> dict[str, Any] | str:
    """The FlowerSpec fields the flags ask for, or why they cannot run (one line)."""
    asked = deadline is not None or dp_noise or dp_clip is not None or dp_delta is not None
    if runtime == "inprocess":
        if asked or secure_aggregation:
            return (
                "--deadline, --dp-* and --secure-aggregation need --runtime flower-simulation or "
                "flower-deployment (in process: tycoon lab --dp-noise / --secure-aggregation)"
            )
        return {}
    if (dp_clip is not None or dp_delta is not None) and not dp_noise:
        return "--dp-clip and --dp-delta need --dp-noise > 0"
    extra: dict[str, Any] = {"dp_noise": dp_noise, "secure_aggregation": secure_aggregation}
    if deadline is not None:
        if deadline <= 0:
            return f"--deadline must be > 0 seconds, got {deadline}"
        extra["round_timeout_s"] = deadline
    if dp_clip is not None:
        extra["dp_clip"] = dp_clip
    if dp_delta is not None:
        extra["dp_delta"] = dp_delta
    from fl_engine.flower.spec import FlowerSpec

    try:  # the same checks the run will make, before any data is loaded
        FlowerSpec(
            seed=cfg.seed, nodes=cfg.n_nodes, rounds=cfg.rounds, data_dir=Path(), out_dir=Path(),
            sample_fraction=cfg.sample_fraction, non_participant=cfg.non_participant,
            n_failed=cfg.n_failed, failure_round=cfg.failure_round, **extra,
        )  # fmt: skip
    except ValueError as exc:
        return str(exc)
    return extra


def flower_stage(runtime: str, data_path: Path, target: Path, extra: dict[str, Any]) -> FlowerStage:
    """The experiment's federated stage on `runtime`, with the flags' FlowerSpec fields."""
    from fl_engine.flower.stage import FlowerStage, deployment_runtime, simulation_runtime

    fn = simulation_runtime() if runtime == "flower-simulation" else deployment_runtime()
    return FlowerStage(fn, data_path, target / "flower", extra=extra)


def flower_summary(outcome: FlowerOutcome) -> dict[str, Any]:
    """metrics.json["flower"]: timings, bytes and, per round, who took part (and DP's cost)."""
    rounds = outcome.rounds
    summary: dict[str, Any] = {
        "startup_seconds": outcome.startup_seconds,
        "seconds_per_round": outcome.seconds_per_round,
        "bytes_up": [r["bytes_up"] for r in rounds],
        "bytes_down": [r["bytes_down"] for r in rounds],
    }
    for key in ROUND_FIELDS:
        if any(key in r for r in rounds):
            summary[key] = [r.get(key) for r in rounds]
    summary["trained"] = [
        sorted(int(n["node"]) for n in r.get("nodes", []) if n["status"] == "trained")
        for r in rounds
    ]
    if rounds and "delta" in rounds[-1]:
        summary["delta"] = rounds[-1]["delta"]
    if rounds and "secure_aggregation" in rounds[-1]:
        summary["secure_aggregation"] = rounds[-1]["secure_aggregation"]
    return summary

"""`tycoon lab`: train a federation round by round, attack and defend it, see what it is worth.

The flags mirror the lab view (docs/lab.md, issue 11). They are checked by the engine's own
`LabConfig`, whose errors are turned into one line naming the flag. Every round is printed as it
finishes: a growing rich table on a terminal, one plain line per round anywhere else. The final
model is then deployed into the game's held-out engines (the default game settings) for its profit
as % of the oracle's. Ctrl-C stops after the round in progress and still reports and writes what
was trained (a second Ctrl-C aborts at once).
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli.common import (
    DECISIONS,
    DataDirOption,
    DecisionOption,
    app,
    check_choice,
    console,
    fail,
)
from app.cli.lab_output import cycles, personalization_table, round_printer

if TYPE_CHECKING:
    from app.web.settings import Settings
    from fl_engine.lab import LabConfig, LabRun
    from fl_engine.lab.flower_run import FlowerLabRun

# Spelled here so `tycoon lab --help` lists them without importing the engine (and torch);
# tests/test_cli_lab.py checks they are the engine's own.
MODELS = ("window", "ff09")
PARTITIONS = ("iid", "unbalanced", "fault_mode", "condition")
AGGREGATIONS = ("fedavg", "fedprox", "fedavgm", "fedadam", "median", "trimmed_mean", "krum")
ATTACKS = ("sign_flip", "scale", "noise", "label", "nan", "free_ride")
COMPRESSIONS = ("none", "int8", "int4", "topk", "mask")
RUNTIMES = ("inprocess", "flower-deployment")
EXIT_INTERRUPTED = 130


def _one_of(values: tuple[str, ...]) -> str:
    return "{" + ",".join(values) + "}"


@app.command()
def lab(
    model: Annotated[str, typer.Option(help=f"model family {_one_of(MODELS)}")] = "window",
    nodes: Annotated[int, typer.Option(help="nodes (factories), 8 to 8000")] = 80,
    rounds: Annotated[int, typer.Option(help="federated rounds, 1 to 500")] = 20,
    local_epochs: Annotated[int, typer.Option(help="local epochs per round, 1 to 20")] = 1,
    lr: Annotated[float, typer.Option(help="local learning rate")] = 3e-3,
    partition: Annotated[
        str, typer.Option(help=f"how engines are split over nodes {_one_of(PARTITIONS)}")
    ] = "iid",
    sample_fraction: Annotated[
        float, typer.Option(help="fraction of the nodes sampled each round, (0, 1]")
    ] = 1.0,
    dropout: Annotated[
        float, typer.Option(help="probability that a sampled node drops out of a round, [0, 1)")
    ] = 0.0,
    deadline: Annotated[
        float | None,
        typer.Option(help="simulated seconds the server waits for stragglers (default: all)"),
    ] = None,
    aggregation: Annotated[
        str, typer.Option(help=f"server rule {_one_of(AGGREGATIONS)}")
    ] = "fedavg",
    attack: Annotated[
        str | None, typer.Option(help=f"what malicious nodes send {_one_of(ATTACKS)}")
    ] = None,
    attackers: Annotated[
        float, typer.Option(help="FRACTION of the nodes that attack, [0, 0.5]")
    ] = 0.0,
    personalize: Annotated[
        int, typer.Option(help="K local epochs of fine-tuning per factory at the end (0: none)")
    ] = 0,
    dp_noise: Annotated[
        float, typer.Option(help="SIGMA, DP-FedAvg's Gaussian noise multiplier (0: no noise)")
    ] = 0.0,
    dp_clip: Annotated[
        float | None, typer.Option(help="C, the L2 norm every update is clipped to (DP)")
    ] = None,
    dp_adaptive_clip: Annotated[
        bool, typer.Option(help="C follows a private estimate of the median update norm")
    ] = False,
    dp_delta: Annotated[
        float | None, typer.Option(help="D, the delta epsilon is reported at (1/nodes^1.1)")
    ] = None,
    dp_sampling: Annotated[
        str, typer.Option(help="{poisson,uniform}: how DP samples the round's nodes")
    ] = "poisson",
    target_epsilon: Annotated[
        float | None, typer.Option(help="E: stop before epsilon would pass it (needs --dp-noise)")
    ] = None,
    secure_aggregation: Annotated[
        bool, typer.Option(help="mask the updates so the server learns only their sum")
    ] = False,
    secagg_threshold: Annotated[
        float | None,
        typer.Option(help="T, the share of a round's clients needed to unmask (default 2/3)"),
    ] = None,
    compression: Annotated[
        str, typer.Option(help=f"how updates are sent {_one_of(COMPRESSIONS)}")
    ] = "none",
    runtime: Annotated[
        str,
        typer.Option(
            help=f"where it trains {_one_of(RUNTIMES)}: flower-deployment runs a SuperLink and "
            "one SuperNode process per node on loopback (needs the [flower] extra)"
        ),
    ] = "inprocess",
    seed: Annotated[int, typer.Option(help="seed of the partition, training and attacks")] = 0,
    data_dir: DataDirOption = None,
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="write {config, rounds, final} as JSON to this file"),
    ] = None,
    decision: DecisionOption = None,
) -> None:
    """Train a federation live: one line per round, then its RMSE and profit as % of the oracle.

    Example: tycoon lab --aggregation median --attack sign_flip --attackers 0.2 --json lab.json
    """
    params = dict(locals())  # the flags, before any other name is bound
    if json_out is not None and json_out.is_dir():
        fail(f"--json {json_out} is a directory; give a file name such as {json_out}/lab.json")
    if attackers > 0 and attack is None:
        fail(f"--attackers {attackers} needs --attack, one of {', '.join(ATTACKS)}")
    check_choice("--decision", decision, DECISIONS)
    flags = {k: v for k, v in params.items() if k not in ("data_dir", "json_out", "decision")}
    flags["attack"] = attack or "none"
    config = lab_config(flags)
    settings = _settings(data_dir, decision)

    from fl_engine.data import DataError, load_runs, resolve_data_dir
    from fl_engine.lab import new_lab_run

    try:
        runs = load_runs(resolve_data_dir(settings.data_dir))
        c = config
        console.print(f"{c.nodes} nodes, {c.partition}, {c.model}, {c.aggregation}: preparing")
        run = new_lab_run(runs, config, settings.data_dir)
    except (DataError, ValueError, OSError) as exc:
        fail(str(exc))
    interrupted = _train(run)
    final = _deploy(run, runs, settings)
    if interrupted:
        final["interrupted"] = True
    _report(final, config, run.records)
    if json_out is not None:
        record = run.record()
        record["final"] = final
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(record, indent=1) + "\n")
        console.print(f"wrote {json_out}", highlight=False)
    if interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)


def lab_config(flags: dict[str, Any]) -> LabConfig:
    """The engine's LabConfig of these settings, or one line saying which flag is wrong and why."""
    from pydantic import ValidationError

    from fl_engine.lab import LabConfig

    try:
        return LabConfig(**flags)
    except ValidationError as exc:
        fail(config_error(exc, flags))


def config_error(exc: Any, flags: dict[str, Any]) -> str:
    """LabConfig's errors on one line, naming flags: `--nodes must be between 8 and 8000, ...`."""
    problems = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ())]
        message = str(error.get("msg", "")).removeprefix("Value error, ")
        if error.get("type") == "literal_error" and loc:
            message = f"{loc[0]} {message.removeprefix('Input ')}, got {error['input']!r}"
        elif loc and not message.startswith(loc[0]):
            message = f"{loc[0]}: {message}"
        for problem in message.split("; "):
            name = problem.split(" ", 1)[0].rstrip(":")
            if name in flags:  # the engine names settings; the user typed flags
                problem = "--" + name.replace("_", "-") + problem[len(name) :]
            problems.append(problem)
    return "; ".join(problems) or str(exc)


def _settings(data_dir: Path | None, decision: str | None = None) -> Settings:
    """The default game settings ($TYCOON_* apply; `--decision` over them), reading the data the
    lab trains on."""
    from pydantic import ValidationError

    from app.web.settings import Settings

    try:
        settings = Settings(data_dir=data_dir) if data_dir is not None else Settings()
        return settings.with_decision(decision)
    except ValidationError as exc:
        fail(f"the game settings ($TYCOON_*) are invalid: {exc.errors()[0]['msg']}")


def _train(run: LabRun | FlowerLabRun) -> bool:
    """Play every round, printing each; True when Ctrl-C stopped it early."""
    stop: list[bool] = []

    def on_sigint(signum: int, frame: object) -> None:
        if stop:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        stop.append(True)
        console.print(
            "\nCtrl-C: stopping after this round (Ctrl-C again to abort)", highlight=False
        )

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        with round_printer(run.config.rounds) as show:
            while not run.done and not stop:
                show(run.step())
    except KeyboardInterrupt:
        console.print("aborted", highlight=False)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        signal.signal(signal.SIGINT, previous)
        run.close()  # a Flower deployment stops its processes
    if stop:
        console.print(
            f"interrupted: stopped after round {run.rounds_done} of {run.config.rounds}; "
            "reporting and writing what was trained",
            highlight=False,
        )
    return bool(stop)


def _deploy(run: LabRun | FlowerLabRun, runs: Any, settings: Settings) -> dict[str, Any]:
    """run.final() plus the profit of the lab's model in the game, as % of the oracle's (None,
    with the reason in `not_deployed`, for a model the game's engines cannot use)."""
    from app.bridge import load_game_models
    from app.lab_bridge import deployed_traces, percent_of_oracle
    from fl_engine.artifacts import ArtifactError
    from fl_engine.data import DataError

    final = dict(run.final())
    final["percent_of_oracle"] = None
    try:
        traces = load_game_models(settings).traces
    except (ArtifactError, DataError, ValueError, OSError) as exc:
        fail(f"could not load the game's engines to deploy into: {exc}")
    try:
        deployed = deployed_traces(list(traces), run, runs)
    except ValueError as exc:  # e.g. a model of the operating-condition partition
        final["not_deployed"] = str(exc)
        console.print(f"not deployed into the game: {exc}", highlight=False, soft_wrap=True)
        return final
    final["percent_of_oracle"] = float(percent_of_oracle(deployed, settings.game))
    final["calibration"] = run.calibration().to_json(settings.game.decision)
    return final


def _report(final: dict[str, Any], config: LabConfig, rounds: list[dict[str, Any]]) -> None:
    failed = [r for r in rounds if r.get("failure")]
    if failed:
        console.print(
            f"{len(failed)} round(s) failed and kept the model as it was: {failed[0]['failure']}",
            highlight=False,
            soft_wrap=True,
        )
    if final.get("stopped"):
        console.print(f"stopped after round {final['rounds_done']}: {final['stopped']}")
    if final.get("epsilon") is not None:
        console.print(
            f"privacy: epsilon {final['epsilon']:.2f} at delta {final['delta']:.2g} "
            f"(noise multiplier {config.dp_noise}, {config.dp_sampling} sampling of "
            f"{config.sample_fraction:g} of the nodes)",
            highlight=False,
        )
    pct = final["percent_of_oracle"]
    profit = "not deployed" if pct is None else f"{pct:.1f}% of the oracle's"
    calibration = final.get("calibration")
    if calibration is not None:
        rule = (
            f"margin {calibration['margin']:g}"
            if calibration["decision"] == "calibrated"
            else "raw rule"
        )
        profit += f" ({rule})"
    console.print(
        f"final: late-life RMSE {cycles(final['late_life_rmse'])}, capped RMSE "
        f"{cycles(final.get('capped_rmse'))}, RMSE {cycles(final['rmse'])}, "
        f"profit in the game {profit} "
        f"({config.aggregation}, {config.nodes} nodes, {config.partition} partition)",
        highlight=False,
        soft_wrap=True,
    )
    personalized = final.get("personalized") or []
    if personalized:
        console.print(personalization_table(personalized, config.personalize))

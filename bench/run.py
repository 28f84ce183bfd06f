"""`make bench`: quality over seeds, round speed against the per-node loop, and scaling.

Prints tables and writes every result as JSON to an untracked folder (`runs/bench/` unless
`--out` says otherwise). Only `--publish` writes to the tracked `bench/results/`, and only the files
the README's tables come from (quality, speed, scaling_cpu), only when run with the README's
settings. Every JSON records when it was produced, by which command at which commit, and on what
machine. Speed is measured here, never asserted in tests. Each scaling size runs in its own
process so its peak memory is its own. `--quick` is a fast dry run of every stage (it never
publishes).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import torch
import typer
from rich.console import Console
from rich.table import Table

from bench.record import PUBLISHED, RESULTS, ROOT, Json, save

__all__ = ["PUBLISHED", "RESULTS", "SCRATCH", "main", "save"]

if TYPE_CHECKING:
    from fl_engine.federated import Federation

SCRATCH = ROOT / "runs" / "bench"  # untracked (.gitignore: /runs/)
# The settings the README's tables were measured with, and the files they come from.
README_SETTINGS = {"seeds": "0-4", "sizes": "80,800,8000", "device": "cpu"}
STAGES = ("speed", "scaling", "quality", "compare")
console = Console()


def quality(seeds: list[int], rounds: int = 10) -> Json:
    from fl_engine.data import load_runs, resolve_data_dir
    from fl_engine.experiment import MODELS, ExperimentConfig, run_experiment

    runs = load_runs(resolve_data_dir())
    out: Json = {"seeds": seeds, "rounds": rounds, "variants": {}}
    table = Table(
        title=f"Test RMSE in cycles, mean ± std over seeds {seeds[0]}-{seeds[-1]} ({rounds} rounds x 1 epoch, 80 nodes)"
    )
    for col in ("model", "variant", "RMSE", "late-life RMSE", "vs centralized"):
        table.add_column(col, justify="right" if col != "model" else "left")
    variants: list[tuple[str, dict[str, bool]]] = [
        ("FF09 (16 inputs)", {"cycle_input": False}),
        ("+ cycle input (17)", {"cycle_input": True}),
    ]
    for variant, kwargs in variants:
        rows: dict[str, dict[str, list[float]]] = {m: {"rmse": [], "late": []} for m in MODELS}
        local_spread = []
        for seed in seeds:
            cfg = ExperimentConfig(seed=seed, rounds=rounds, cycle_input=kwargs["cycle_input"])
            result = run_experiment(runs, cfg)
            for m in MODELS:
                rows[m]["rmse"].append(result.scores[m].rmse)
                rows[m]["late"].append(result.scores[m].late_life_rmse)
            local_spread.append(
                [
                    min(result.local_all_nodes),
                    float(np.mean(result.local_all_nodes)),
                    max(result.local_all_nodes),
                ]
            )
        central = np.mean(rows["centralized"]["rmse"])
        summary: Json = {}
        for m in MODELS:
            r, late = np.array(rows[m]["rmse"]), np.array(rows[m]["late"])
            summary[m] = {
                "rmse_mean": float(r.mean()),
                "rmse_std": float(r.std()),
                "late_life_mean": float(late.mean()),
                "late_life_std": float(late.std()),
                "rmse": r.tolist(),
            }
            table.add_row(
                m,
                variant,
                f"{r.mean():.2f} ± {r.std():.2f}",
                f"{late.mean():.2f} ± {late.std():.2f}",
                f"{(r.mean() / central - 1) * 100:+.1f}%",
            )
        spread = np.array(local_spread)
        summary["every_node_alone"] = {
            "min": float(spread[:, 0].min()),
            "mean": float(spread[:, 1].mean()),
            "max": float(spread[:, 2].max()),
        }
        table.add_row(
            "each node alone",
            variant,
            f"{spread[:, 1].mean():.1f} (range {spread[:, 0].min():.0f}-{spread[:, 2].max():.0f})",
            "",
            "",
        )
        out["variants"][variant] = summary
    console.print(table)
    return out


def federation_of(n_nodes: int, trainer: str, device: str = "cpu") -> Federation:
    """A federation of `n_nodes`: the 80-node FF09 partition, replicated to reach larger sizes."""
    from fl_engine.data import load_runs, resolve_data_dir
    from fl_engine.features import prepare_protocol
    from fl_engine.federated import FederatedConfig, Federation
    from fl_engine.local_training import NodeData
    from fl_engine.model import MLPConfig, init_params
    from fl_engine.nodes import non_participant, participant
    from fl_engine.partition import iid

    data = prepare_protocol(load_runs(resolve_data_dir()), seed=0)
    parts = iid(data.train_engines, data.engine_groups(), 80, np.random.default_rng(0))
    base = NodeData.from_rows(data.x, data.y, [data.rows_of(p) for p in parts])
    reps = -(-n_nodes // 80)
    nodes = NodeData(
        base.x.repeat(reps, 1, 1)[:n_nodes],
        base.y.repeat(reps, 1)[:n_nodes],
        base.sizes.repeat(reps)[:n_nodes],
    ).to(device)
    mlp = MLPConfig()
    cfg = FederatedConfig(trainer=trainer, track_losses=False)
    return Federation(
        nodes,
        [non_participant] + [participant] * (n_nodes - 1),
        init_params(mlp, 0),
        cfg,
        mlp,
        seed=0,
    )


def time_rounds(fed: Federation, rounds: int) -> list[float]:
    fed.run_round()  # warm-up
    times = []
    for _ in range(rounds):
        if fed.data.x.is_cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fed.run_round()
        if fed.data.x.is_cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return times


def speed(rounds: int, loop_rounds: int) -> Json:
    vectorized = federation_of(80, "vectorized")
    vec = time_rounds(vectorized, rounds)
    loop = time_rounds(federation_of(80, "loop"), loop_rounds)
    result: Json = {
        "nodes": 80,
        "rows": int(vectorized.data.sizes.sum()),
        "batch": 32,
        "local_epochs": 1,
        "rounds_timed": {"vectorized": rounds, "loop": loop_rounds},
        "vectorized_ms_median": 1e3 * float(np.median(vec)),
        "vectorized_ms_min": 1e3 * float(np.min(vec)),
        "loop_ms_median": 1e3 * float(np.median(loop)),
        "speedup": float(np.median(loop) / np.median(vec)),
    }
    table = Table(title="One FedAvg round, 80 nodes x 1 epoch (Adam, batch 32)")
    for col in ("trainer", "ms / round (median)", "speed-up"):
        table.add_column(col, justify="right")
    table.add_row("per-node loop", f"{result['loop_ms_median']:.0f}", "1x")
    table.add_row(
        "vectorized", f"{result['vectorized_ms_median']:.1f}", f"{result['speedup']:.0f}x"
    )
    console.print(table)
    return result


def scaling(sizes: list[int], device: str, rounds: int = 3) -> Json:
    rows = []
    for n in sizes:
        proc = subprocess.run(
            [sys.executable, "-m", "bench.scale_one", str(n), device, str(rounds)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    table = Table(
        title=f"Vectorized FedAvg round vs federation size ({device}; replicas of the 80-node partition)"
    )
    for col in ("nodes", "rows / round", "s / round (median)", "peak memory"):
        table.add_column(col, justify="right")
    for r in rows:
        mem = (
            f"{r['gpu_peak_mib']:.0f} MiB GPU"
            if r["gpu_peak_mib"]
            else f"{r['peak_rss_mib']:.0f} MiB RSS"
        )
        table.add_row(f"{r['nodes']:,}", f"{r['rows']:,}", f"{r['s_per_round_median']:.4f}", mem)
    console.print(table)
    return {"device": device, "rounds_timed": rounds, "rows": rows}


def main(
    seeds: Annotated[str, typer.Option(help="quality seeds, e.g. 0-4")] = README_SETTINGS["seeds"],
    sizes: Annotated[
        str, typer.Option(help="federation sizes for the scaling table")
    ] = README_SETTINGS["sizes"],
    device: Annotated[str, typer.Option(help="cpu or cuda")] = README_SETTINGS["device"],
    skip_quality: Annotated[bool, typer.Option(help="skip the quality benchmark")] = False,
    out: Annotated[
        Path, typer.Option(help="where every result goes (untracked)", file_okay=False)
    ] = SCRATCH,
    publish: Annotated[
        bool,
        typer.Option(
            help="also write the README's results (quality, speed, scaling_cpu) to the tracked "
            "bench/results/; only with the README's settings"
        ),
    ] = False,
    quick: Annotated[
        bool,
        typer.Option(help="fast dry run of every stage: seed 0, 1 round, sizes 80 and 160"),
    ] = False,
    only: Annotated[
        str,
        typer.Option(help="the stages to run, comma-separated: speed, scaling, quality, compare"),
    ] = ",".join(STAGES),
) -> None:
    """Run every benchmark and save JSON results (to runs/bench/ unless --out or --publish)."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        console.print("[red]error:[/] --device cuda asked for, but torch sees no CUDA device")
        raise typer.Exit(2)
    if publish:
        asked = {"seeds": seeds, "sizes": sizes, "device": device}
        if quick or asked != README_SETTINGS:
            console.print(
                f"[red]error:[/] --publish needs the README's settings {README_SETTINGS} and no "
                f"--quick; got {asked}{' with --quick' if quick else ''}"
            )
            raise typer.Exit(2)
    stages = {s.strip() for s in only.split(",") if s.strip()}
    if not stages or stages - set(STAGES):
        console.print(f"[red]error:[/] --only takes stages from {', '.join(STAGES)}; got {only!r}")
        raise typer.Exit(2)
    if skip_quality:
        stages.discard("quality")
    if quick:
        seeds, sizes = "0", "80,160"
    lo, hi = (int(v) for v in seeds.split("-")) if "-" in seeds else (int(seeds), int(seeds))
    written: list[Path] = []
    if device == "cpu" and "speed" in stages:
        result = speed(rounds=3, loop_rounds=1) if quick else speed(rounds=30, loop_rounds=2)
        written += save("speed", {**result, "quick": quick}, out, device, publish)
    if "scaling" in stages:
        result = scaling([int(s) for s in sizes.split(",")], device, rounds=1 if quick else 3)
        written += save(
            f"scaling_{device.split(':')[0]}", {**result, "quick": quick}, out, device, publish
        )
    if "quality" in stages:
        result = quality(list(range(lo, hi + 1)), rounds=1 if quick else 10)
        written += save("quality", {**result, "quick": quick}, out, device, publish)
    if "compare" in stages:
        from bench.compare import compare_bench

        seed_list = [0] if quick else list(range(lo, hi + 1))
        result = compare_bench(seed_list, 1000 if quick else 5000, out / "models", console)
        written += save("compare", {**result, "quick": quick}, out, device, publish)
    for path in written:
        console.print(f"wrote {path}")


if __name__ == "__main__":
    typer.run(main)

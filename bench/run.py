"""`make bench`: quality over seeds, round speed against the per-node loop, and scaling.

Prints tables and writes bench/results/{quality,speed,scaling}.json. Speed is measured here, never
asserted in tests. Each scaling size runs in its own process so its peak memory is its own.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
import typer
from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).resolve().parent / "results"
console = Console()


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "date": time.strftime("%Y-%m-%d"),
    }


def save(name: str, payload: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps({"machine": machine(), **payload}, indent=1))


def quality(seeds: list[int]) -> dict:
    from fl_engine.data import load_runs, resolve_data_dir
    from fl_engine.experiment import MODELS, ExperimentConfig, run_experiment

    runs = load_runs(resolve_data_dir())
    out: dict = {"seeds": seeds, "variants": {}}
    table = Table(
        title=f"Test RMSE in cycles, mean ± std over seeds {seeds[0]}-{seeds[-1]} (10 rounds x 1 epoch, 80 nodes)"
    )
    for col in ("model", "variant", "RMSE", "late-life RMSE", "vs centralized"):
        table.add_column(col, justify="right" if col != "model" else "left")
    for variant, kwargs in (
        ("FF09 (16 inputs)", {}),
        ("+ cycle input (17)", {"cycle_input": True}),
    ):
        rows: dict[str, dict[str, list[float]]] = {m: {"rmse": [], "late": []} for m in MODELS}
        local_spread = []
        for seed in seeds:
            result = run_experiment(runs, ExperimentConfig(seed=seed, **kwargs))
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
        summary = {}
        for m in MODELS:
            r, late = np.array(rows[m]["rmse"]), np.array(rows[m]["late"])
            summary[m] = {
                "rmse_mean": r.mean(),
                "rmse_std": r.std(),
                "late_life_mean": late.mean(),
                "late_life_std": late.std(),
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
            "min": spread[:, 0].min(),
            "mean": spread[:, 1].mean(),
            "max": spread[:, 2].max(),
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


def _federation(n_nodes: int, trainer: str, device: str = "cpu"):
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


def time_rounds(fed, rounds: int) -> list[float]:
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


def speed(rounds: int, loop_rounds: int) -> dict:
    vec = time_rounds(_federation(80, "vectorized"), rounds)
    loop = time_rounds(_federation(80, "loop"), loop_rounds)
    result = {
        "nodes": 80,
        "rows": int(_federation(80, "vectorized").data.sizes.sum()),
        "batch": 32,
        "local_epochs": 1,
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


def scaling(sizes: list[int], device: str) -> dict:
    rows = []
    for n in sizes:
        proc = subprocess.run(
            [sys.executable, "-m", "bench.scale_one", str(n), device],
            capture_output=True,
            text=True,
            check=True,
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
    return {"device": device, "rows": rows}


def main(
    seeds: Annotated[str, typer.Option(help="quality seeds, e.g. 0-4")] = "0-4",
    sizes: Annotated[
        str, typer.Option(help="federation sizes for the scaling table")
    ] = "80,800,8000",
    device: Annotated[str, typer.Option(help="cpu or cuda")] = "cpu",
    skip_quality: bool = False,
) -> None:
    """Run every benchmark and save JSON results."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        console.print("[red]error:[/] --device cuda asked for, but torch sees no CUDA device")
        raise typer.Exit(2)
    lo, hi = (int(v) for v in seeds.split("-")) if "-" in seeds else (int(seeds), int(seeds))
    if device == "cpu":
        save("speed", speed(rounds=30, loop_rounds=2))
    save(f"scaling_{device.split(':')[0]}", scaling([int(s) for s in sizes.split(",")], device))
    if not skip_quality:
        save("quality", quality(list(range(lo, hi + 1))))
    console.print(f"results in {RESULTS}")


if __name__ == "__main__":
    typer.run(main)

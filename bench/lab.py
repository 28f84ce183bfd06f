"""Federation Lab benchmark: robustness to attackers, non-IID data, stragglers and dropouts.

    .venv/bin/python -m bench.lab [--publish] [--seeds 0 1 2] [--rounds 20] [--nodes 80]

Three tables (issue 11's "Results to publish"), every run a `fl_engine.lab.LabRun` played to the
end and deployed into the game's held-out engines (`app.lab_bridge`, default game settings) for
its profit as % of the oracle's:

(a) robustness: each rule clean, then with 20% sign-flip and 20% boosted (x10) attackers; final
    test RMSE, late-life RMSE and profit, median over seeds (min-max). Target: median, trimmed
    mean and Krum within 5% of the clean FedAvg RMSE, plain FedAvg visibly broken (here: over 25%
    worse), each as the median over seeds of the RMSE's ratio to clean FedAvg's on the same seed. FedAdam runs with a server step of 0.1 (its paper tunes it below 1; with 1 it diverges).
(b) non-IID: iid, fault-mode and operating-condition partitions; FedAvg, FedProx, and each
    factory fine-tuning the FedAvg model (for each of `--personalize` epochs) and its local model.
(c) stragglers and dropouts: 0/30/60% dropout per round, and a deadline for stragglers.

Runs with the same configuration are played once. JSON to runs/bench/lab.json; `--publish` also
writes bench/results/lab.json, only with the README's settings. Markdown tables are printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from bench.record import RESULTS, ROOT, machine, produced, write_tables

Json = dict[str, Any]
SCRATCH = ROOT / "runs" / "bench"
README_SETTINGS: Json = {
    "seeds": [0, 1, 2],
    "rounds": 20,
    "nodes": 80,
    "model": "window",
    "rules": ["fedavg", "median", "trimmed_mean", "krum", "fedavgm", "fedadam"],
    "personalize": [2, 5],
    "deadline": 2.0,
    "fedadam_server_lr": 0.1,
}
ATTACKS = {"sign_flip": "20% sign-flip", "scale": "20% boosted (x10)"}
ROBUST = ("median", "trimmed_mean", "krum")
BROKEN = 1.25  # "visibly broken": RMSE over 25% above clean FedAvg's
WITHIN = 1.05  # "within 5%"


@dataclass
class Lab:
    """The data and game engines, loaded once, and every run played so far by configuration."""

    settings: Json
    runs: Any = None
    traces: Any = None
    game: Any = None
    played: dict[str, Json] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from app.bridge import load_game_models
        from app.web.settings import Settings
        from fl_engine.data import load_runs, resolve_data_dir

        web = Settings()
        self.runs = load_runs(resolve_data_dir(web.data_dir))
        self.traces = list(load_game_models(web).traces)
        self.game = web.game

    def play(self, seed: int, **overrides: Any) -> Json:
        """One run's final figures (cached by configuration)."""
        from app.lab_bridge import deployed_traces, percent_of_oracle
        from fl_engine.lab import LabConfig, LabRun

        s = self.settings
        config = LabConfig(
            model=s["model"], nodes=s["nodes"], rounds=s["rounds"], seed=seed, **overrides
        )
        key = config.model_dump_json()
        if key in self.played:
            return self.played[key]
        start = time.perf_counter()
        run = LabRun(self.runs, config)
        rounds = []
        while not run.done:
            rounds.append(run.step())
        final = run.final()
        train_s = time.perf_counter() - start
        try:
            pct: float | None = percent_of_oracle(
                deployed_traces(self.traces, run, self.runs), self.game
            )
        except ValueError:  # the condition partition's model cannot read the game's engines
            pct = None
        out: Json = {
            "seed": seed,
            "overrides": overrides,
            "rmse": _number(final["rmse"]),
            "late_life_rmse": _number(final["late_life_rmse"]),
            "percent_of_oracle": pct,
            "mean_participants": statistics.fmean(len(r["participants"]) for r in rounds),
            "mean_rejected": statistics.fmean(len(r["rejected"]) for r in rounds),
            "mean_stragglers": statistics.fmean(len(r["stragglers"]) for r in rounds),
            "bytes_up_per_round": statistics.fmean(r["bytes_up"] for r in rounds),
            "bytes_down_per_round": statistics.fmean(r["bytes_down"] for r in rounds),
            "epsilon_by_round": [r.get("epsilon") for r in rounds],
            "failed_rounds": sum(1 for r in rounds if r.get("failure")),
            "seconds": time.perf_counter() - start,
            "train_seconds": train_s,
        }
        personal = final.get("personalized") or []
        for name in ("federated_rmse", "personalized_rmse", "local_rmse"):
            if personal:
                out[f"factory_{name}_median"] = statistics.median(p[name] for p in personal)
        self.played[key] = out
        label = ", ".join(f"{k}={v}" for k, v in overrides.items()) or "fedavg"
        print(f"  seed {seed} {label}: RMSE {out['rmse']:.2f} ({out['seconds']:.1f} s)")
        sys.stdout.flush()
        return out

    def row(self, name: str, **overrides: Any) -> Json:
        """One table row: every seed's run and the median (min-max) of each figure."""
        per_seed = [self.play(seed, **overrides) for seed in self.settings["seeds"]]
        row: Json = {"name": name, "config": overrides, "per_seed": per_seed}
        for key in per_seed[0]:
            values = [r[key] for r in per_seed]
            if key not in ("seed",) and all(isinstance(v, float) for v in values):
                row[key] = spread(values)
        return row


def play_tables(
    lab: Lab,
    result: Json,
    tables: dict[str, Callable[[], Any]],
    markdown: Callable[[Json], str],
    start: float,
) -> None:
    """Play each table into `result`, then count the runs, time them and render the markdown."""
    for name, table in tables.items():
        print(f"{name}:")
        result[name] = table()
    result["runs_played"] = len(lab.played)
    result["seconds"] = time.perf_counter() - start
    result["markdown"] = markdown(result)
    print(result["markdown"])
    print(f"{len(lab.played)} runs in {result['seconds']:.0f} s")


def _number(value: float | None) -> float:
    """A figure the run reports as null when not finite (a diverged model), as NaN."""
    return float("nan") if value is None else float(value)


def spread(values: list[float]) -> Json:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def fmt(s: Json | None, digits: int = 2) -> str:
    if s is None:
        return "-"
    if s["min"] == s["max"]:
        return f"{s['median']:.{digits}f}"
    return f"{s['median']:.{digits}f} ({s['min']:.{digits}f}-{s['max']:.{digits}f})"


def rule(lab: Lab, name: str) -> Json:
    """A rule's settings: FedAdam's server step is tuned below 1, as its paper does."""
    if name == "fedadam":
        return {"aggregation": name, "server_lr": lab.settings["fedadam_server_lr"]}
    return {"aggregation": name}


def robustness(lab: Lab) -> Json:
    clean = lab.row("clean FedAvg", aggregation="fedavg")
    rules = lab.settings["rules"]
    rows = [clean] + [lab.row(f"clean, {r}", **rule(lab, r)) for r in rules if r != "fedavg"]
    for attack, label in ATTACKS.items():
        for r in rules:
            rows.append(lab.row(f"{label}, {r}", **rule(lab, r), attack=attack, attackers=0.2))
    checks = []
    for row in rows:
        if "attack" not in row["config"]:
            continue
        check: Json = {"row": row["name"]}
        for figure, name in (("rmse", "ratio"), ("late_life_rmse", "late_life_ratio")):
            # paired by seed: the same test engines and partition with and without attackers
            pairs = zip(row["per_seed"], clean["per_seed"], strict=True)
            check[f"{name}_per_seed"] = [r[figure] / c[figure] for r, c in pairs]
            check[name] = statistics.median(check[f"{name}_per_seed"])
        if row["config"]["aggregation"] in ROBUST:
            checks.append({**check, "met": check["ratio"] <= WITHIN})
        elif row["config"]["aggregation"] == "fedavg":
            checks.append({**check, "met": check["ratio"] > BROKEN})
    return {"rows": rows, "clean_rmse": clean["rmse"]["median"], "checks": checks}


def non_iid(lab: Lab) -> Json:
    epochs = lab.settings["personalize"]
    rows = []
    for partition in ("iid", "fault_mode", "condition"):
        tuned = [
            lab.row(f"{partition}, FedAvg + {k} ep.", partition=partition, personalize=k)
            for k in epochs
        ]
        fedprox = lab.row(f"{partition}, FedProx", partition=partition, aggregation="fedprox")
        rows.append({"partition": partition, "fedavg": tuned, "fedprox": fedprox})
    return {"personalize_epochs": epochs, "rows": rows}


def stragglers(lab: Lab) -> Json:
    rows = [
        lab.row(f"{int(100 * p)}% dropout", dropout=p) if p else lab.row("0% dropout")
        for p in (0.0, 0.3, 0.6)
    ]
    deadline = lab.settings["deadline"]
    rows.append(lab.row(f"deadline {deadline:g} s", deadline=deadline))
    return {"rows": rows, "deadline": deadline}


def markdown(result: Json) -> str:
    s = result["settings"]
    seeds = f"seeds {', '.join(map(str, s['seeds']))}"
    head = f"{s['nodes']} nodes, {s['model']} model, {s['rounds']} rounds x 1 epoch, {seeds}"
    out = [f"(a) Robustness, {head}: median over seeds (min-max)", ""]
    out += ["| run | RMSE | late-life RMSE | profit % of oracle | rejected / round |"]
    out += ["|---|---:|---:|---:|---:|"]
    for row in result["robustness"]["rows"]:
        out.append(
            f"| {row['name']} | {fmt(row['rmse'])} | {fmt(row['late_life_rmse'])} | "
            f"{fmt(row['percent_of_oracle'], 1)} | {fmt(row['mean_rejected'], 1)} |"
        )
    out += ["", "Targets:"]
    for check in result["robustness"]["checks"]:
        goal = "visibly broken" if check["row"].endswith(", fedavg") else "within 5%"
        verdict = "met" if check["met"] else "missed"
        seeds = ", ".join(f"{r:.3f}" for r in check["ratio_per_seed"])
        out.append(
            f"- {check['row']}: RMSE {check['ratio']:.3f} x clean FedAvg's, median of the seeds "
            f"({seeds}) ({goal}): **{verdict}**; late-life RMSE {check['late_life_ratio']:.2f} x"
        )
    epochs = result["non_iid"]["personalize_epochs"]
    out += ["", f"(b) Non-IID, {head}; per factory: median over factories of its own test RMSE"]
    tuned = " | ".join(f"personalized ({k} ep.)" for k in epochs)
    out += ["", f"| partition | FedAvg | FedProx | factory: federated | {tuned} | local |"]
    out += ["|---|---:|---:|---:|" + "---:|" * len(epochs) + "---:|"]
    for row in result["non_iid"]["rows"]:
        fa = row["fedavg"]
        cells = [fa[0].get("factory_federated_rmse_median")]
        cells += [t.get("factory_personalized_rmse_median") for t in fa]
        cells += [fa[0].get("factory_local_rmse_median")]
        out.append(
            f"| {row['partition']} | {fmt(fa[0]['rmse'])} | {fmt(row['fedprox']['rmse'])} | "
            + " | ".join(fmt(c) for c in cells)
            + " |"
        )
    out += ["", f"(c) Stragglers and dropouts, {head}", ""]
    out += ["| run | RMSE | late-life RMSE | participants / round | stragglers / round |"]
    out += ["|---|---:|---:|---:|---:|"]
    for row in result["stragglers"]["rows"]:
        out.append(
            f"| {row['name']} | {fmt(row['rmse'])} | {fmt(row['late_life_rmse'])} | "
            f"{fmt(row['mean_participants'], 1)} | {fmt(row['mean_stragglers'], 1)} |"
        )
    return "\n".join(out)


def parse(argv: list[str] | None) -> argparse.Namespace:
    d = README_SETTINGS
    p = argparse.ArgumentParser(prog="python -m bench.lab", description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=d["seeds"])
    p.add_argument("--rounds", type=int, default=d["rounds"])
    p.add_argument("--nodes", type=int, default=d["nodes"])
    p.add_argument("--model", choices=("window", "ff09"), default=d["model"])
    p.add_argument("--rules", nargs="+", default=d["rules"], help="rules of table (a)")
    p.add_argument("--personalize", type=int, nargs="+", default=d["personalize"], help="(b)")
    p.add_argument("--deadline", type=float, default=d["deadline"], help="seconds, table (c)")
    p.add_argument("--fedadam-server-lr", type=float, default=d["fedadam_server_lr"])
    p.add_argument("--out", type=Path, default=SCRATCH, help="untracked output folder")
    p.add_argument("--publish", action="store_true", help="also write bench/results/lab.json")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> Json:
    args = parse(argv)
    settings = {k: getattr(args, k) for k in README_SETTINGS}
    stamp = produced()
    stamp["command"] = " ".join(["python -m bench.lab", *(sys.argv[1:] if argv is None else argv)])
    start = time.perf_counter()
    print(f"Federation Lab benchmark: {settings}")
    lab = Lab(settings)
    result: Json = {"produced": stamp, "machine": machine(), "settings": settings}
    tables = {"robustness": robustness, "non_iid": non_iid, "stragglers": stragglers}
    play_tables(lab, result, {name: partial(t, lab) for name, t in tables.items()}, markdown, start)
    published = RESULTS if args.publish else None
    write_tables("lab", result, args.out, published, settings, README_SETTINGS)
    return result


if __name__ == "__main__":
    main()

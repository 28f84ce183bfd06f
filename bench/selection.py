"""Choosing the window model's federated settings on validation engines only.

    python -m bench.selection [--publish] [--quick] [--out runs/bench] [--resume FILE]

Two selection runs, each on a protocol's training engines alone (`fl_engine.validation`): the
game's (the 320 training engines of FD001+FD003 at seed 0; 64 held out, the other 256 dealt to
64 factories of 4) and the official FD001 split's (the 100 `train_FD001` units; 20 held out, 80
dealt to 20 factories of 4). Neither reads a test engine or the `test_FD001` file.

The grid, in steps so it fits ~25 minutes on one core (one run to `ROUNDS[-1]` rounds is
read at every round count of `ROUNDS`: no setting here decays its step, so the model after 50 of
150 rounds is the model of a 50-round run):

1. the server optimizer at the family's local step (Adam 3e-3, 1 local epoch): FedAvg, FedAvgM
   (momentum 0.9) and FedAdam at a few server step sizes;
2. with the best server optimizer of step 1: local Adam 1e-3 and 1e-2, and 2 local epochs;
3. the `CONFIRM_TOP` best settings of steps 1-2 again on a second validation split (other
   validation engines, truncation points and training seed: `CONFIRM_SEED`), since one split of
   20 FD001 engines is a noisy judge; the choice is made on both splits.

Each (setting, rounds) is scored by its federated model: on the game's validation engines the
late-life RMSE (true RUL <= 50, the game's measure), on FD001's the capped RMSE at random
truncation points (the official test units' measure). The choice minimizes the mean over the two
protocols (and splits) of score / best score of that protocol. The centralized model (20 epochs,
as the game's) is scored too, for reference. Writes `selection.json` to `--out`, and with
`--publish` to `bench/results/`; `--resume FILE` reuses the runs of an earlier `selection.json`
(every run is seeded, so a run repeated gives the same numbers).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from bench.record import RESULTS, machine, produced
from fl_engine.data import Runs, load_runs, load_split, resolve_data_dir
from fl_engine.factory_types import FactoryModelsConfig, ServerOptimizer
from fl_engine.features import ProtocolData
from fl_engine.model_families import family_of
from fl_engine.validation import (
    VALIDATION_FRACTION,
    ValidationSet,
    game_training_engines,
    train_one_stage,
    validation_protocol,
)

Json = dict[str, Any]
SEED = 0
CONFIRM_SEED = 1  # step 3: a second validation split and training seed
CONFIRM_TOP = 3  # settings of step 2's ranking confirmed on it
ROUNDS = (50, 100, 150)
QUICK_ROUNDS = (2, 4)
ENGINES_PER_FACTORY = 4
BASE_LR = 3e-3
# what each protocol's choice rests on (the other measures are recorded too)
CRITERION = {"game": "late_life_rmse", "fd001": "truncated_capped_rmse"}


@dataclass(frozen=True)
class Setting:
    server_optimizer: ServerOptimizer = "fedavg"
    server_lr: float = 1.0
    server_momentum: float = 0.9
    lr: float = BASE_LR
    local_epochs: int = 1

    def label(self) -> str:
        server = {
            "fedavg": "fedavg",
            "fedavgm": f"fedavgm(lr={self.server_lr:g}, m={self.server_momentum:g})",
            "fedadam": f"fedadam(lr={self.server_lr:g})",
        }[self.server_optimizer]
        return f"{server}, adam {self.lr:g}, {self.local_epochs} ep"


SERVERS = (
    Setting(),
    Setting("fedavgm", server_lr=1.0),
    Setting("fedavgm", server_lr=0.3),
    Setting("fedavgm", server_lr=0.1),  # Hsu et al.'s effective step server_lr / (1 - m) = 1
    Setting("fedadam", server_lr=0.01),
    Setting("fedadam", server_lr=0.03),
    Setting("fedadam", server_lr=0.1),
)
QUICK_SERVERS = (Setting(), Setting("fedadam", server_lr=0.03))


def local_variants(best: Setting) -> list[Setting]:
    """Step 2: the best server optimizer with other local steps and epochs."""
    return [
        Setting(best.server_optimizer, best.server_lr, best.server_momentum, lr=1e-3),
        Setting(best.server_optimizer, best.server_lr, best.server_momentum, lr=1e-2),
        Setting(best.server_optimizer, best.server_lr, best.server_momentum, local_epochs=2),
    ]


@dataclass
class Protocol:
    """One selection run's data: the fit and validation engines, ready to train and score."""

    name: Literal["game", "fd001"]
    seed: int  # the validation split's, the truncation points' and the training's
    data: ProtocolData
    validation: ValidationSet

    @property
    def key(self) -> str:
        return f"{self.name}/{self.seed}"

    def config(self, setting: Setting, rounds: int) -> FactoryModelsConfig:
        return FactoryModelsConfig(
            seed=self.seed,
            model="window",
            n_nodes=len(self.data.train_engines) // ENGINES_PER_FACTORY,
            rounds=rounds,
            **asdict(setting),
        )

    def describe(self) -> Json:
        ids = self.data.runs.engine_ids
        return {
            "fit_engines": len(self.data.train_engines),
            "validation_engines": [ids[e] for e in self.data.test_engines],
            "factories": len(self.data.train_engines) // ENGINES_PER_FACTORY,
            "criterion": CRITERION[self.name],
        }


def protocols(data_dir: Path, seed: int) -> list[Protocol]:
    """The game's and FD001's selection runs; the test engines and test files are never loaded
    into them (the game's pool is cut out of the protocol's runs before anything is computed).
    The game's pool is always seed 0's (the shipped models' protocol); `seed` draws the
    validation engines, the truncation points and the training's seeds."""
    game_runs = load_runs(data_dir)
    pool = game_training_engines(game_runs.n_engines, 80, SEED)
    fd001: Runs = load_split(data_dir, "FD001", "train")
    return [
        selection_protocol(
            "game", seed, validation_protocol(game_runs, pool, seed, VALIDATION_FRACTION)
        ),
        selection_protocol(
            "fd001", seed, validation_protocol(fd001, np.arange(fd001.n_engines), seed)
        ),
    ]


def selection_protocol(name: Literal["game", "fd001"], seed: int, data: ProtocolData) -> Protocol:
    family = family_of("window", {"n_features": data.n_features})
    return Protocol(name, seed, data, ValidationSet(data, family, seed))


def run_setting(protocol: Protocol, setting: Setting, rounds: tuple[int, ...]) -> Json:
    """Train the federated model to rounds[-1] rounds; its validation scores at each of `rounds`."""
    data = protocol.data
    family = family_of("window", {"n_features": data.n_features})
    target = family.target_scale(data)
    scores: dict[int, Json] = {}

    def on_round(done: int, params: torch.Tensor) -> None:
        if done in rounds:
            scores[done] = asdict(protocol.validation.scores(params[:1], target)[0])

    start = time.perf_counter()
    train_one_stage(data, family, protocol.config(setting, rounds[-1]), "federated", on_round)
    return {
        "setting": asdict(setting),
        "label": setting.label(),
        "by_rounds": {str(r): scores[r] for r in rounds},
        "seconds": time.perf_counter() - start,
    }


def run_centralized(protocol: Protocol, lr: float) -> Json:
    data = protocol.data
    family = family_of("window", {"n_features": data.n_features})
    cfg = protocol.config(Setting(lr=lr), ROUNDS[-1])
    result = train_one_stage(data, family, cfg, "centralized")
    score = protocol.validation.scores(result.params[:1], family.target_scale(data))[0]
    return {"lr": lr, "epochs": cfg.centralized_epochs, **asdict(score)}


def choose(results: dict[str, list[Json]]) -> Json:
    """The (setting, rounds) with the least mean over protocols of score / protocol's best."""
    candidates: dict[tuple[str, str], list[float]] = {}
    for protocol, runs in results.items():
        metric = CRITERION[protocol.split("/")[0]]
        values = {(r["label"], k): s[metric] for r in runs for k, s in r["by_rounds"].items()}
        best = min(values.values())
        for key, value in values.items():
            candidates.setdefault(key, []).append(value / best)
    n = len(results)
    relative = {k: float(np.mean(v)) for k, v in candidates.items() if len(v) == n}
    label, rounds = min(relative, key=lambda k: relative[k])
    setting = asdict(_setting_of(results, label))
    ranking = sorted(relative.items(), key=lambda kv: kv[1])
    return {
        "label": label,
        "rounds": int(rounds),
        "setting": setting,
        "relative_score": relative[(label, rounds)],
        "ranking": [{"label": k[0], "rounds": int(k[1]), "relative": v} for k, v in ranking],
    }


def select(
    quick: bool, resume: dict[str, list[Json]] | None = None, log: Callable[[str], None] = print
) -> Json:
    """Steps 1-3 (see the module docstring); `resume`: results of an earlier run of the same
    grid, keyed like `results`, whose runs are not trained again (every run is seeded)."""
    torch.set_num_threads(1)
    rounds = QUICK_ROUNDS if quick else ROUNDS
    start = time.perf_counter()
    data_dir = resolve_data_dir()
    first_split = protocols(data_dir, SEED)
    results: dict[str, list[Json]] = {p.key: [] for p in first_split}

    def run_all(settings: list[Setting], runs: list[Protocol]) -> None:
        for setting in settings:
            for p in runs:
                done = results.setdefault(p.key, [])
                earlier = (resume or {}).get(p.key, [])
                if any(r["label"] == setting.label() for r in done):
                    continue
                r = next((r for r in earlier if r["label"] == setting.label()), None)
                r = r or run_setting(p, setting, rounds)
                done.append(r)
                s = r["by_rounds"][str(rounds[-1])]
                log(
                    f"{p.key:8} {r['label']:38} {r['seconds']:5.0f} s  "
                    + "  ".join(
                        f"{k}: {v[CRITERION[p.name]]:.2f}" for k, v in r["by_rounds"].items()
                    )
                    + f"  (capped {s['capped_rmse']:.2f})"
                )

    run_all(list(QUICK_SERVERS if quick else SERVERS), first_split)
    step1 = choose(results)
    log(f"step 1: {step1['label']} at {step1['rounds']} rounds")
    if not quick:
        run_all(local_variants(Setting(**step1["setting"])), first_split)
    step2 = choose(results)
    log(f"step 2: {step2['label']} at {step2['rounds']} rounds")
    top: list[Setting] = []
    for entry in step2["ranking"]:
        setting = _setting_of(results, entry["label"])
        if setting not in top:
            top.append(setting)
    second_split = protocols(data_dir, CONFIRM_SEED)
    run_all(top[:CONFIRM_TOP], second_split)
    confirmed = {k: v for k, v in results.items() if k.endswith(f"/{CONFIRM_SEED}")}
    confirmed |= {
        k: [r for r in v if Setting(**r["setting"]) in top[:CONFIRM_TOP]]
        for k, v in results.items()
        if k.endswith(f"/{SEED}")
    }
    chosen = choose(confirmed)
    log(f"chosen: {chosen['label']} at {chosen['rounds']} rounds")
    lrs = sorted({BASE_LR, chosen["setting"]["lr"]})
    centralized = {
        p.key: [run_centralized(p, lr) for lr in lrs] for p in first_split + second_split
    }
    return {
        "purpose": "the window model's federated settings, chosen on validation engines only",
        "seeds": [SEED, CONFIRM_SEED],
        "rounds_read": list(rounds),
        "validation_fraction": VALIDATION_FRACTION,
        "protocols": {p.key: p.describe() for p in first_split + second_split},
        "results": results,
        "step1_choice": step1,
        "step2_choice": step2,
        "confirmed_settings": [s.label() for s in top[:CONFIRM_TOP]],
        "chosen": chosen,
        "centralized": centralized,
        "seconds": time.perf_counter() - start,
        "resumed": resume is not None,
    }


def _setting_of(results: dict[str, list[Json]], label: str) -> Setting:
    return next(
        Setting(**r["setting"]) for rs in results.values() for r in rs if r["label"] == label
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a dry run: 2 settings, 4 rounds")
    parser.add_argument("--publish", action="store_true", help="also write bench/results/")
    parser.add_argument("--out", type=Path, default=Path("runs/bench"))
    parser.add_argument(
        "--resume", type=Path, help="an earlier selection.json: reuse its runs (all seeded)"
    )
    args = parser.parse_args()
    if args.publish and args.quick:
        parser.error("--publish needs the full grid (no --quick)")
    resume = json.loads(args.resume.read_text())["results"] if args.resume else None
    result = select(args.quick, resume, lambda line: print(line, flush=True))
    flags = [f for f in ("--quick", "--publish") if getattr(args, f[2:])]
    flags += [f"--resume {args.resume}"] if args.resume else []
    command = " ".join(["python -m bench.selection", *flags])
    doc = {"produced": {**produced(), "command": command}, "machine": machine(), **result}
    for folder in [args.out] + ([RESULTS] if args.publish else []):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "selection.json").write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {folder / 'selection.json'}")


if __name__ == "__main__":
    main()

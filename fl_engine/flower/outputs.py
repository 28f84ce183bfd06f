"""What the ServerApp leaves in `out-dir` for the process that started the run, and reading it
back as a `FlowerOutcome`; the simulation and the deployment runtimes share both halves.

- `rounds.jsonl`: one JSON record per round, appended and flushed when the round ends (a parent
  can follow a deployment run by reading it);
- `params.safetensors`: `global` (final), `round-<r>` (after round r) and `local` (the
  non-participant's own model), float32 flat vectors; safetensors so reading them runs no code;
- `done.json`: written last; its presence means the run finished.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file
from torch import Tensor

from fl_engine.flower.spec import FlowerOutcome

ROUNDS_FILE = "rounds.jsonl"
PARAMS_FILE = "params.safetensors"
DONE_FILE = "done.json"


def start(out_dir: Path) -> None:
    """Clear a previous run's files so a reader never mixes two runs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in (ROUNDS_FILE, PARAMS_FILE, DONE_FILE):
        (out_dir / name).unlink(missing_ok=True)


def append_round(out_dir: Path, record: dict[str, Any]) -> None:
    with (out_dir / ROUNDS_FILE).open("a") as f:
        f.write(json.dumps(record) + "\n")


def finish(
    out_dir: Path, global_params: Tensor, round_params: list[Tensor], local: Tensor | None
) -> None:
    tensors = {"global": global_params.contiguous()}
    tensors |= {f"round-{r + 1}": p.contiguous() for r, p in enumerate(round_params)}
    if local is not None:
        tensors["local"] = local.contiguous()
    save_file(tensors, str(out_dir / PARAMS_FILE))
    (out_dir / DONE_FILE).write_text(json.dumps({"rounds": len(round_params)}))


def read_rounds(out_dir: Path) -> list[dict[str, Any]]:
    path = out_dir / ROUNDS_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def read_outcome(out_dir: Path, startup_seconds: float) -> FlowerOutcome:
    """The finished run in `out_dir`; raises FileNotFoundError when it did not finish."""
    if not (out_dir / DONE_FILE).exists():
        raise FileNotFoundError(f"the Flower run did not finish: no {out_dir / DONE_FILE}")
    tensors = load_file(str(out_dir / PARAMS_FILE))
    rounds = read_rounds(out_dir)
    return FlowerOutcome(
        global_params=tensors["global"],
        rounds=rounds,
        seconds_per_round=[float(r["seconds"]) for r in rounds],
        startup_seconds=startup_seconds,
        round_params=[tensors[f"round-{r + 1}"] for r in range(len(rounds))],
        local_params=tensors.get("local"),
    )

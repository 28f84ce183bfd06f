"""What every benchmark result records: when, from which command and commit, on what machine.

`save` writes a result where it belongs: always to the untracked output folder, and to the
tracked `bench/results/` only when publishing a file the README's tables come from.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"  # tracked: what the README's tables come from, nothing else
PUBLISHED = ("quality", "speed", "scaling_cpu", "compare")

Json = dict[str, Any]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: str = "cpu") -> Json:
    """What the numbers were measured on."""
    try:
        memory_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (AttributeError, ValueError, OSError):
        memory_gib = None
    info: Json = {
        "cpu": _cpu_model(),
        "arch": platform.machine(),
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gib": memory_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
        info["cuda"] = torch.version.cuda
    return info


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def produced() -> Json:
    """When and from what: UTC time, the command line, the commit and whether the tree was dirty."""
    status = _git("status", "--porcelain", "--untracked-files=no", "--", "fl_engine", "bench")
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join(["python -m bench.run", *sys.argv[1:]]),
        "git_commit": _git("rev-parse", "HEAD"),
        "engine_changes_uncommitted": bool(status) if status is not None else None,
    }


def save(name: str, payload: Json, out: Path, device: str, publish: bool) -> list[Path]:
    """Write `name`.json to `out`; also to bench/results/ when publishing a README result."""
    text = json.dumps({"produced": produced(), "machine": machine(device), **payload}, indent=1)
    folders = [out] + ([RESULTS] if publish and name in PUBLISHED else [])
    written = []
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"{name}.json.tmp"
        tmp.write_text(text + "\n")
        tmp.replace(folder / f"{name}.json")
        written.append(folder / f"{name}.json")
    return written


def write_tables(
    name: str, result: Json, out: Path, published: Path | None, settings: Json, readme: Json
) -> list[Path]:
    """Write `name`.json to `out`, and to `published` (bench/results/) when asked to publish and
    run with the README's settings `readme`: a table in the README comes from those alone."""
    folders = [out]
    if published is not None:
        if settings == readme:
            folders.append(published)
        else:
            print(f"not published: --publish needs the README's settings {readme}")
    written = []
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"{name}.json.tmp"
        tmp.write_text(json.dumps(result, indent=1) + "\n")
        tmp.replace(folder / f"{name}.json")
        print(f"wrote {folder / f'{name}.json'}")
        written.append(folder / f"{name}.json")
    return written

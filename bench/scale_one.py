"""Child process of `bench.run`: one federation size, timed, with its own peak memory."""

from __future__ import annotations

import json
import sys

import numpy as np
import torch

from bench.run import federation_of, time_rounds


def scale_one(nodes: int, device: str = "cpu", rounds: int = 3) -> None:
    """Child process: time rounds for one size and report peak memory as JSON on stdout."""
    import resource

    torch.set_num_threads(torch.get_num_threads())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fed = federation_of(nodes, "vectorized", device)
    times = time_rounds(fed, rounds)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    payload = {
        "nodes": nodes,
        "rows": int(fed.data.sizes.sum()),
        "device": device,
        "s_per_round_median": float(np.median(times)),
        "s_per_round_min": float(np.min(times)),
        "peak_rss_mib": peak_kib / 1024,
        "rss_before_mib": before / 1024,
        "gpu_peak_mib": torch.cuda.max_memory_allocated() / 2**20
        if device.startswith("cuda")
        else None,
    }
    print(json.dumps(payload))


if __name__ == "__main__":
    scale_one(
        int(sys.argv[1]),
        device=sys.argv[2] if len(sys.argv) > 2 else "cpu",
        rounds=int(sys.argv[3]) if len(sys.argv) > 3 else 3,
    )

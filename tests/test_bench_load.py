"""The load benchmark (`bench/load.py`), as a tiny dry run through its real code path.

A real `tycoon serve` subprocess, real websocket dashboards in a client process, the real record.
It asserts what the record holds and that the server is gone afterwards, never a timing: timings
belong to the benchmark's own runs, on a quiet machine.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.load import main


def test_a_tiny_load_run_records_every_measure_and_stops_the_server(
    window_models: object, game_artifacts_dir: Path, tmp_path: Path
) -> None:
    # window_models: the models are cached in game_artifacts_dir, so the server starts at once
    main(
        clients=3,
        speed=20.0,
        seconds=3.0,
        warmup=1.0,
        procs=1,
        probes=2,
        artifacts=game_artifacts_dir,
        out=tmp_path,
        publish=False,
    )
    record = json.loads((tmp_path / "load.json").read_text())

    assert {"date", "git_commit", "command", "load_average_1m_before"} <= set(record["produced"])
    assert {"cpu", "logical_cpus", "python"} <= set(record["machine"])
    assert record["settings"]["clients"] == 3
    results = record["results"]
    assert results["games"] == 3
    assert results["dashboards_failed"] == 0
    assert results["error_frames"] == 0
    assert results["ticks_per_s"]["min"] > 0
    assert results["bytes_per_s_per_client"]["median"] > 0
    assert results["total_bytes"] > 0
    assert results["frame_gap_ms"]["max"] >= results["frame_gap_ms"]["p50"] > 0
    assert results["first_frame_s"]["count"] == 2
    assert 0 < results["first_frame_s"]["p50"] <= results["first_frame_s"]["max"]
    assert results["server"]["rss_mib_max"] > 0
    assert len(results["client_cpu_percent"]) == 1
    assert set(record["targets"]) and all(
        isinstance(t["met"], bool) for t in record["targets"].values()
    )

    server = results["server"]
    assert "stopped_by" in server  # SIGINT, or kill when that was not enough
    assert server["exit_code"] is not None  # waited for: the process is gone, not left running

"""A tiny dry run of the Federation Lab benchmark through its main(): the record's fields, never
its timings (the real run is by hand: `python -m bench.lab --publish`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import lab as bench_lab


def test_a_tiny_dry_run_records_every_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    published = tmp_path / "results"
    monkeypatch.setattr(bench_lab, "RESULTS", published)
    out = tmp_path / "out"
    args = ["--seeds", "0", "--rounds", "1", "--nodes", "8", "--rules", "fedavg", "median"]
    result = bench_lab.main([*args, "--personalize", "1", "--out", str(out), "--publish"])

    assert not published.exists(), "published with settings other than the README's"
    record = json.loads((out / "lab.json").read_text())
    assert record["markdown"] == result["markdown"]
    assert record["produced"]["command"].startswith("python -m bench.lab --seeds 0")
    assert record["produced"]["date"] and "git_commit" in record["produced"]
    assert record["machine"]["logical_cpus"] >= 1 and record["machine"]["torch"]
    assert record["settings"]["seeds"] == [0] and record["settings"]["rounds"] == 1

    rows = record["robustness"]["rows"]
    assert [r["name"] for r in rows] == [
        "clean FedAvg",
        "clean, median",
        "20% sign-flip, fedavg",
        "20% sign-flip, median",
        "20% boosted (x10), fedavg",
        "20% boosted (x10), median",
    ]
    for row in rows:
        for figure in ("rmse", "late_life_rmse", "percent_of_oracle", "mean_rejected"):
            assert set(row[figure]) == {"median", "min", "max"}, (row["name"], figure)
        assert [r["seed"] for r in row["per_seed"]] == [0]
    checks = record["robustness"]["checks"]
    assert [c["row"] for c in checks] == [r["name"] for r in rows[2:]]
    assert all(isinstance(c["met"], bool) and c["ratio"] > 0 for c in checks)
    assert all(c["late_life_ratio"] > 0 and len(c["ratio_per_seed"]) == 1 for c in checks)

    non_iid = record["non_iid"]["rows"]
    assert [r["partition"] for r in non_iid] == ["iid", "fault_mode", "condition"]
    for row in non_iid:
        [fedavg] = row["fedavg"]  # one per --personalize epochs
        assert fedavg["rmse"]["median"] > 0 and row["fedprox"]["rmse"]["median"] > 0
        assert fedavg["factory_personalized_rmse_median"]["median"] > 0
        assert fedavg["factory_local_rmse_median"]["median"] > 0

    names = [r["name"] for r in record["stragglers"]["rows"]]
    assert names == ["0% dropout", "30% dropout", "60% dropout", "deadline 2 s"]
    assert record["runs_played"] == len({json.dumps(r["config"]) for r in rows}) + 6 + 3
    for table in ("(a) Robustness", "(b) Non-IID", "(c) Stragglers", "| clean FedAvg |"):
        assert table in record["markdown"]

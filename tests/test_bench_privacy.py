"""A tiny dry run of the privacy and communication benchmark through its main(): the record's
fields, never its timings (the real run is by hand: `python -m bench.privacy --publish`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import privacy as bench_privacy


def test_a_tiny_dry_run_records_every_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    published = tmp_path / "results"
    monkeypatch.setattr(bench_privacy, "RESULTS", published)
    out = tmp_path / "out"
    args = ["--seeds", "0", "--model", "ff09", "--sigmas", "0", "1", "--dp-federations", "8:0.5"]
    args += ["--dp-rounds", "10", "--rounds", "1", "--nodes", "8", "--compressions", "none", "int8"]
    result = bench_privacy.main([*args, "--out", str(out), "--publish"])

    assert not published.exists(), "published with settings other than the README's"
    record = json.loads((out / "privacy.json").read_text())
    assert record["markdown"] == result["markdown"]
    assert record["produced"]["command"].startswith("python -m bench.privacy --seeds 0")
    assert record["settings"]["dp_federations"] == [[8, 0.5]]

    rows = record["privacy"]
    assert [(r["nodes"], r["sigma"]) for r in rows] == [(8, None), (8, 0.0), (8, 1.0)]
    assert rows[1]["epsilon"] is None  # clipping without noise: no guarantee
    assert 0 < rows[2]["epsilon_early"] == rows[2]["epsilon"]  # 10 rounds: @10 is the last
    for row in rows:
        assert row["rmse"]["median"] > 0 and row["percent_of_oracle"]["median"] is not None
    sizes = [r["per_seed"][0]["bytes_up_per_round"] for r in record["compression"]]
    assert sizes[1] < sizes[0] / 3  # int8 against float32
    secure = record["secure_aggregation"]
    assert [r["name"] for r in secure][:2] == ["plain FedAvg", "secure aggregation"]
    assert (
        secure[1]["per_seed"][0]["bytes_up_per_round"]
        > secure[0]["per_seed"][0]["bytes_up_per_round"]
    )
    for table in ("(a) Differential privacy", "(b) Compression", "(c) Secure aggregation"):
        assert table in record["markdown"]

"""The official benchmark split on real data: what trains, what is scored, what is written.

FD001 comes from the embedded set with a few rounds (the split and the files, not the model's
quality, are under test); FD002's per-condition normalization needs the full data directory.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fl_engine.benchmark import BenchmarkConfig, BenchmarkResult, run_benchmark, write_benchmark
from fl_engine.benchmark_data import load_benchmark, operating_conditions
from fl_engine.data import EMBEDDED_DATA_DIR, data_file, read_table
from fl_engine.metrics import rmse

FEW = BenchmarkConfig(subset="FD001", seed=0, rounds=2, centralized_epochs=1)


@pytest.fixture(scope="module")
def fd001(tmp_path_factory: pytest.TempPathFactory) -> tuple[BenchmarkResult, Path]:
    result = run_benchmark(load_benchmark(EMBEDDED_DATA_DIR, "FD001"), FEW)
    out = tmp_path_factory.mktemp("benchmark")
    write_benchmark(result, out)
    return result, out


def test_training_reads_only_train_file_units_and_scoring_only_test_units(
    fd001: tuple[BenchmarkResult, Path],
) -> None:
    result, _ = fd001
    runs = result.data.protocol.runs
    n_train = len(read_table(data_file(EMBEDDED_DATA_DIR, "train_FD001"), 26))
    assert len(result.data.train_rows) == n_train == 20631
    for name, rows in result.trained_rows.items():
        units = {runs.engine_ids[e] for e in np.unique(runs.row_engine[rows])}
        assert units and all(u.startswith("FD001-train-") for u in units), name
        assert rows.max() < n_train, name
    # two rounds of 25 factories draw every training row at least once
    assert len(result.trained_rows["federated"]) == n_train
    assert result.metrics["trained_row_counts"]["centralized"] == n_train
    factories = result.node_units
    assert len(factories) == 25 and all(len(f) == 4 for f in factories)
    assert sorted(u for f in factories for u in f) == sorted(
        f"FD001-train-{i}" for i in range(1, 101)
    )
    scored = {runs.engine_ids[e] for e in np.unique(runs.row_engine[result.input_rows])}
    assert scored == {f"FD001-test-{i}" for i in range(1, 101)}
    assert result.input_rows.min() >= n_train


def test_predictions_csv_has_one_row_per_test_unit_and_the_rul_file(
    fd001: tuple[BenchmarkResult, Path],
) -> None:
    _, out = fd001
    with (out / "predictions.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["unit", "true_rul", "centralized", "federated", "local_median_factory"]
    rul_file = read_table(data_file(EMBEDDED_DATA_DIR, "RUL_FD001"), 1)[:, 0]
    assert [int(r["unit"]) for r in rows] == list(range(1, 101))
    assert [float(r["true_rul"]) for r in rows] == rul_file.tolist()
    assert max(rul_file) > 125  # uncapped in the file


def test_capped_rmse_recomputed_from_the_csv_matches_metrics_json(
    fd001: tuple[BenchmarkResult, Path],
) -> None:
    _, out = fd001
    metrics = json.loads((out / "metrics.json").read_text())
    with (out / "predictions.csv").open() as f:
        rows = list(csv.DictReader(f))
    capped = np.minimum([float(r["true_rul"]) for r in rows], 125)
    for column, key in (
        ("centralized", "centralized"),
        ("federated", "federated"),
        ("local_median_factory", "local_median"),
    ):
        pred = [float(r[column]) for r in rows]
        assert rmse(pred, capped) == pytest.approx(metrics[key]["rmse_capped"], rel=1e-12), column
    assert len(metrics["local"]) == 25
    assert metrics["settings"]["n_nodes"] == 25 and metrics["settings"]["rounds"] == 2
    assert metrics["seconds"]["total"] > 0


def _full_data_dir() -> Path | None:
    env = os.environ.get("TYCOON_DATA_DIR")
    if not env or not (Path(env) / "train_FD002.txt").is_file():
        return None
    return Path(env)


@pytest.mark.skipif(_full_data_dir() is None, reason="needs $TYCOON_DATA_DIR with FD002")
def test_fd002_sensors_are_standardized_per_operating_condition() -> None:
    data_dir = _full_data_dir()
    assert data_dir is not None
    data = load_benchmark(data_dir, "FD002")
    assert data.normalization == "condition"
    train = data.train_rows
    points, _ = operating_conditions(data.protocol.runs.signals[train, :3])
    assert len(points) == 6 == len(data.condition_mean)
    assert all(name.startswith("sensor_") for name in data.protocol.feature_names)
    x = data.protocol.x.numpy()[train]
    for c in range(6):
        part = x[data.condition[train] == c]
        assert np.abs(part.mean(0)).max() < 1e-3, c
        assert np.abs(part.std(0) - 1).max() < 1e-3, c


def _tycoon(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("tycoon", path=os.path.dirname(sys.executable)) or "tycoon"
    env = {**os.environ, "TYCOON_DATA_DIR": str(EMBEDDED_DATA_DIR)}
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120, env=env)


def test_cli_runs_the_benchmark_and_prints_the_published_anchors(tmp_path: Path) -> None:
    out = tmp_path / "fd001"
    done = _tycoon("benchmark", "--out", str(out), "--rounds", "1", "--centralized-epochs", "1")
    assert done.returncode == 0, done.stderr
    assert "12.61" in done.stdout and "16.14" in done.stdout
    assert (out / "metrics.json").is_file() and (out / "predictions.csv").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--subset", "FD009"), "unknown subset 'FD009'"),
        (("--subset", "FD002"), "missing data file"),  # the embedded set has FD001/FD003 only
        (("--model", "lstm"), "unknown model 'lstm'"),
    ],
)
def test_cli_bad_input_is_one_clear_line(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    done = _tycoon("benchmark", "--out", str(tmp_path / "out"), *args)
    assert done.returncode == 2
    said = " ".join(done.stderr.split())  # rich wraps a long line at the terminal's width
    assert said.startswith("error: ") and said.count("error") == 1, done.stderr
    assert message in said and "Traceback" not in said


def test_cli_out_that_is_a_file_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "taken"
    file.write_text("x")
    done = _tycoon("benchmark", "--out", str(file))
    assert done.returncode == 2 and "is a file" in done.stderr and "Traceback" not in done.stderr


def test_cli_missing_data_dir_is_refused(tmp_path: Path) -> None:
    done = _tycoon("benchmark", "--out", str(tmp_path / "o"), "--data-dir", str(tmp_path / "no"))
    assert done.returncode == 2 and "does not exist" in done.stderr


def test_settings_for_another_subset_are_refused_before_training() -> None:
    data = load_benchmark(EMBEDDED_DATA_DIR, "FD001")
    with pytest.raises(ValueError, match="for FD003 but the data is FD001"):
        run_benchmark(data, BenchmarkConfig(subset="FD003", rounds=1))

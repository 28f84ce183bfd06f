"""C-MAPSS loading on the real files: counts, RUL arithmetic, features, split, bad input."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fl_engine.data import (
    EMBEDDED_DATA_DIR,
    KNOWN_COUNTS,
    DataError,
    check_data_dir,
    load_runs,
    load_split,
    resolve_data_dir,
    split_engines,
)

EXPECTED_FEATURES = [
    "setting_1",
    "setting_2",
    "sensor_2",
    "sensor_3",
    "sensor_4",
    "sensor_7",
    "sensor_8",
    "sensor_9",
    "sensor_11",
    "sensor_12",
    "sensor_13",
    "sensor_14",
    "sensor_15",
    "sensor_17",
    "sensor_20",
    "sensor_21",
]


def test_protocol_set_has_400_engines_and_75043_rows(runs):
    assert runs.n_engines == 400
    assert runs.n_rows == 75_043
    assert int(runs.run_to_failure.sum()) == 200
    assert runs.engine_ids[0] == "FD001-train-1" and runs.engine_ids[-1] == "FD003-test-100"


@pytest.mark.parametrize("stem", ["train_FD001", "test_FD001", "train_FD003", "test_FD003"])
def test_each_file_matches_the_published_counts(data_dir, stem):
    split, subset = stem.split("_")
    runs = load_split(data_dir, subset, split)
    assert (runs.n_rows, runs.n_engines) == KNOWN_COUNTS[stem]


def test_train_rul_counts_down_to_zero_at_failure(runs):
    rows = runs.engine_rows()[0]  # FD001-train-1, 192 cycles
    assert len(rows) == 192
    assert runs.rul[rows[0]] == 191 and runs.rul[rows[-1]] == 0
    assert np.all(np.diff(runs.rul[rows]) == -1)


def test_test_rul_adds_the_rul_file_to_the_remaining_cycles(runs):
    fd001_test_1 = runs.engine_ids.index("FD001-test-1")
    rows = runs.engine_rows()[fd001_test_1]
    assert len(rows) == 31
    assert runs.rul[rows[-1]] == 112  # first line of RUL_FD001.txt
    assert runs.rul[rows[0]] == 112 + 30
    fd003_test_2 = runs.engine_ids.index("FD003-test-2")
    assert runs.rul[runs.engine_rows()[fd003_test_2][-1]] == 51  # second line of RUL_FD003.txt


def test_the_16_informative_features_are_derived_from_the_data(protocol):
    assert protocol.feature_names == EXPECTED_FEATURES
    assert protocol.x.shape == (75_043, 16)


def test_split_is_320_train_80_test_disjoint_and_seeded(protocol):
    assert len(protocol.train_engines) == 320 and len(protocol.test_engines) == 80
    assert not set(protocol.train_engines) & set(protocol.test_engines)
    again, _ = split_engines(400, 80, seed=0)
    other, _ = split_engines(400, 80, seed=1)
    assert np.array_equal(again, protocol.train_engines)
    assert not np.array_equal(other, protocol.train_engines)


def test_standardization_uses_train_engines_only(protocol):
    train = protocol.x[protocol.rows_of(protocol.train_engines)].numpy()
    test = protocol.x[protocol.rows_of(protocol.test_engines)].numpy()
    assert np.allclose(train.mean(0), 0, atol=1e-4) and np.allclose(train.std(0), 1, atol=1e-3)
    assert not np.allclose(test.mean(0), 0, atol=1e-3)
    y = protocol.y[protocol.rows_of(protocol.train_engines)].numpy()
    assert abs(y.mean()) < 1e-4 and abs(y.std() - 1) < 1e-3


def test_data_dir_precedence_flag_then_env_then_embedded(tmp_path, monkeypatch):
    monkeypatch.delenv("TYCOON_DATA_DIR", raising=False)
    assert resolve_data_dir() == EMBEDDED_DATA_DIR
    monkeypatch.setenv("TYCOON_DATA_DIR", str(tmp_path))
    assert resolve_data_dir() == tmp_path
    flag = tmp_path / "flag"
    flag.mkdir()
    assert resolve_data_dir(flag) == flag
    with pytest.raises(DataError, match="does not exist"):
        resolve_data_dir(tmp_path / "nowhere")


def test_embedded_gzipped_files_equal_the_raw_set():
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "cmapss"
    if not (shared / "train_FD001.txt").is_file():
        pytest.skip("the raw C-MAPSS set is not beside the checkout")
    for stem in ("train_FD001", "test_FD003", "RUL_FD001"):
        embedded = gzip.decompress((EMBEDDED_DATA_DIR / f"{stem}.txt.gz").read_bytes())
        assert embedded == (shared / f"{stem}.txt").read_bytes()


# ----------------------------------------------------------------------------- bad input


@pytest.fixture
def copy_dir(tmp_path, data_dir) -> Path:
    """A writable copy of the FD001 files, as plain text."""
    for stem in (
        "train_FD001",
        "test_FD001",
        "RUL_FD001",
        "train_FD003",
        "test_FD003",
        "RUL_FD003",
    ):
        src = data_dir / f"{stem}.txt"
        text = (
            src.read_bytes()
            if src.is_file()
            else gzip.decompress((data_dir / f"{stem}.txt.gz").read_bytes())
        )
        (tmp_path / f"{stem}.txt").write_bytes(text)
    return tmp_path


def _edit_line(path: Path, line_no: int, new: str) -> None:
    lines = path.read_text().splitlines()
    lines[line_no - 1] = new
    path.write_text("\n".join(lines) + "\n")


def test_missing_file_is_named(copy_dir):
    (copy_dir / "test_FD001.txt").unlink()
    with pytest.raises(DataError, match=r"missing data file: .*test_FD001\.txt"):
        load_runs(copy_dir)


def test_wrong_column_count_names_file_and_line(copy_dir):
    path = copy_dir / "train_FD001.txt"
    _edit_line(path, 7, "1 7 0.1 0.2 100.0")
    with pytest.raises(DataError, match=r"train_FD001\.txt, line 7: expected 26 columns, found 5"):
        load_runs(copy_dir)


def test_non_numeric_value_names_file_and_line(copy_dir):
    path = copy_dir / "test_FD003.txt"
    fields = path.read_text().splitlines()[41].split()
    fields[9] = "n/a"
    _edit_line(path, 42, " ".join(fields))
    with pytest.raises(DataError, match=r"test_FD003\.txt, line 42: non-numeric value 'n/a'"):
        load_runs(copy_dir)


def test_rul_file_that_does_not_match_its_test_file(copy_dir):
    path = copy_dir / "RUL_FD001.txt"
    path.write_text("\n".join(path.read_text().split()[:-1]) + "\n")
    with pytest.raises(
        DataError, match=r"RUL_FD001\.txt: has 99 RUL values but .*test_FD001\.txt has 100 units"
    ):
        load_runs(copy_dir)


def test_negative_rul_value(copy_dir):
    _edit_line(copy_dir / "RUL_FD003.txt", 3, "-5")
    with pytest.raises(
        DataError, match=r"RUL_FD003\.txt, line 3: RUL must be a non-negative whole number"
    ):
        load_runs(copy_dir)


def test_cycles_out_of_sequence(copy_dir):
    path = copy_dir / "train_FD003.txt"
    fields = path.read_text().splitlines()[4].split()
    fields[1] = "9"
    _edit_line(path, 5, " ".join(fields))
    with pytest.raises(DataError, match=r"train_FD003\.txt, line 5: cycle 9 out of sequence"):
        load_runs(copy_dir)


def test_empty_and_damaged_gzip_files(copy_dir):
    (copy_dir / "train_FD001.txt").write_text("")
    with pytest.raises(DataError, match=r"train_FD001\.txt: file is empty"):
        load_runs(copy_dir)
    (copy_dir / "train_FD001.txt").unlink()
    (copy_dir / "train_FD001.txt.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match=r"train_FD001\.txt\.gz: cannot read file"):
        load_runs(copy_dir)


def test_check_reports_wrong_counts_and_absent_optional_subsets(copy_dir):
    path = copy_dir / "train_FD001.txt"
    path.write_text("\n".join(path.read_text().splitlines()[:-1]) + "\n")
    results = {r.file: r for r in check_data_dir(copy_dir)}
    assert results["train_FD001"].status == "error"
    assert (
        "20630 rows and 100 units; expected 20631 rows and 100 units"
        in results["train_FD001"].detail
    )
    assert results["test_FD003"].status == "ok"
    assert results["train_FD002"].status == "absent"


def _tycoon(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    exe = shutil.which("tycoon", path=os.path.dirname(sys.executable)) or "tycoon"
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=120
    )


def test_cli_reports_bad_data_without_a_traceback(copy_dir):
    _edit_line(copy_dir / "train_FD001.txt", 3, "1 3 x")
    result = _tycoon("train", "--data-dir", str(copy_dir), "--out", str(copy_dir / "out"))
    assert result.returncode == 2
    assert "train_FD001.txt, line 3: expected 26 columns, found 3" in " ".join(
        result.stderr.split()
    )
    assert "Traceback" not in result.stderr + result.stdout
    check = _tycoon("data", "check", "--data-dir", str(copy_dir))
    assert check.returncode == 1 and "error" in check.stdout
    ok = _tycoon("data", "check")
    assert ok.returncode == 0, ok.stdout + ok.stderr

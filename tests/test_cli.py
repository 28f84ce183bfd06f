"""The `tycoon` command line as a user runs it: real subprocesses, real files, real ports."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest


def _tycoon(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("tycoon", path=os.path.dirname(sys.executable)) or "tycoon"
    return subprocess.run(
        [exe, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_training_progress_is_printed_as_lines_when_stdout_is_not_a_terminal(
    tmp_path: Path,
) -> None:
    done = _tycoon("train", "--rounds", "2", "--out", str(tmp_path / "run"), timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for stage in ("centralized: 1/1", "federated: 1/2", "federated: 2/2"):
        assert any(line.startswith(f"seed 0: {stage} (at ") for line in lines), done.stdout
    # Lines come in the order the stages ran, before the results table.
    order = [i for i, line in enumerate(lines) if line.startswith("seed 0: federated")]
    table = next(i for i, line in enumerate(lines) if "Test RMSE" in line)
    assert order == sorted(order) and order[-1] < table


def test_a_busy_port_is_reported_before_anything_is_loaded(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # The data directory does not exist: if the models were loaded first, that would be the
        # error. The port must be the first thing checked.
        done = _tycoon(
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "no-such-dir"),
            "--artifacts",
            str(tmp_path / "artifacts"),
            timeout=30,
        )
    assert done.returncode == 2
    assert f"127.0.0.1:{port}" in done.stderr and "--port" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "artifacts").exists()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"TYCOON_DEFAULT_TICKS_PER_SECOND": "80"},
            "default_ticks_per_second (80) is above max_ticks_per_second (50)",
        ),
        (
            {"TYCOON_GAME__COMPETITOR_STRATEGIES": '["corrective", "preventative", "federated"]'},
            "competitor strategy 'federated' is above the competitor cap",
        ),
        (
            {"TYCOON_GAME__COMPETITOR_CAP": '["corrective", "local", "federated"]'},
            "competitor_cap may not include 'federated'",
        ),
        ({"TYCOON_SEED": "-1"}, "seed"),
    ],
)
def test_invalid_settings_get_one_clear_line(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    done = _tycoon("serve", "--port", "1", "--artifacts", str(tmp_path / "a"), env=env, timeout=30)
    assert done.returncode == 2
    assert expected in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr


def test_compare_writes_the_answer_as_json(tmp_path: Path, game_models, game_artifacts_dir) -> None:
    """`tycoon compare` on the session's cached models: the same numbers as the game's own."""
    from app.game.compare import compare_seed
    from app.game.settings import GameSettings

    out = tmp_path / "compare.json"
    done = _tycoon(
        "compare",
        "--seeds",
        "0",
        "--ticks",
        "2000",
        "--artifacts",
        str(game_artifacts_dir),
        "--json",
        str(out),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Federated earns" in done.stdout and "95% interval" in done.stdout
    data = json.loads(out.read_text())
    assert set(data) >= {"seeds", "federated_minus_local", "share_federated_beats_local"}
    [seed] = data["seeds"]
    expected = compare_seed(game_models.traces, GameSettings(), 0, 2000)
    assert seed["seed"] == 0 and seed["local_by_factory"] == expected.local_by_factory
    assert set(seed["percent_of_oracle"]) == {
        "corrective",
        "preventative",
        "centralized",
        "federated",
    }
    lo, hi = data["federated_minus_local"]["ci95"]
    assert lo <= data["federated_minus_local"]["mean"] <= hi
    bad = _tycoon("compare", "--seeds", "0", "--model", "gpt", timeout=60)
    assert bad.returncode == 2 and "unknown model 'gpt'" in bad.stderr


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def test_an_artifacts_path_that_is_a_file_is_an_error_not_a_retrain(tmp_path: Path) -> None:
    file = tmp_path / "somefile"
    file.write_text("not a directory")
    done = _tycoon("serve", "--port", _free_port(), "--artifacts", str(file), timeout=60)
    assert done.returncode == 2
    assert f"--artifacts {file} is a file, not a directory" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr
    assert file.read_text() == "not a directory"


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ('{"format": "turbofan-tycoon/factory-models/2", "config": []}', "config: Input should"),
        ("[1, 2]", "a JSON list, not an object"),
    ],
)
def test_a_damaged_models_file_stops_serve_with_one_line(
    tmp_path: Path, damage: str, expected: str
) -> None:
    """Start-up reads the models before serving: a bad factory_models.json is one clear line."""
    folder = tmp_path / "artifacts" / "game-window-seed-0"
    folder.mkdir(parents=True)
    (folder / "factory_models.json").write_text(damage)
    artifacts = str(tmp_path / "artifacts")
    done = _tycoon("serve", "--port", _free_port(), "--artifacts", artifacts, timeout=120)
    assert done.returncode == 2, done.stdout
    message = " ".join(done.stderr.split())
    assert "factory_models.json is damaged" in message and expected in message
    assert "Traceback" not in done.stderr


def test_train_game_models_help_names_the_shipped_directory() -> None:
    done = _tycoon("train-game-models", "--help", timeout=60)
    assert done.returncode == 0 and "data/models" in done.stdout


def test_an_error_line_shows_brackets_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    """rich would read "[flower]" as markup and drop it from "pip install -e .[flower]"."""
    import typer

    from app.cli.common import fail

    with pytest.raises(typer.Exit):
        fail("needs Flower: pip install -e .[flower] (shape [k, n])")
    assert "pip install -e .[flower] (shape [k, n])" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("compare", "--decision", "maybe"), "--decision must be one of calibrated, raw"),
        (("serve", "--calibration", "k-fold"), "--calibration must be one of in-sample, cross-fit"),
        (("lab", "--decision", "RAW"), "--decision must be one of calibrated, raw, got 'RAW'"),
    ],
)
def test_a_decision_or_calibration_not_offered_is_one_line(
    args: tuple[str, ...], message: str
) -> None:
    done = _tycoon(*args, timeout=120)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_compare_reads_the_decision_from_the_environment_and_the_flag_wins(
    tmp_path: Path, game_models, game_artifacts_dir: Path
) -> None:
    """TYCOON_GAME__DECISION=raw plays FF09's rule; --decision calibrated overrides it."""
    base = ("compare", "--seeds", "0", "--ticks", "600", "--artifacts", str(game_artifacts_dir))
    env = {"TYCOON_GAME__DECISION": "raw"}
    raw, flag = tmp_path / "raw.json", tmp_path / "flag.json"
    assert _tycoon(*base, "--json", str(raw), env=env, timeout=300).returncode == 0
    done = _tycoon(*base, "--decision", "calibrated", "--json", str(flag), env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(raw.read_text())["decision"] == "raw"
    assert json.loads(flag.read_text())["decision"] == "calibrated"
    federated = [json.loads(p.read_text())["seeds"][0]["percent_of_oracle"]["federated"]
                 for p in (raw, flag)]  # fmt: skip
    assert federated[0] != federated[1]

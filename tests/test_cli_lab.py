"""`tycoon lab` as a user runs it: a real subprocess training a real (tiny) federation."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROUND_KEYS = {
    "round",
    "rmse",
    "late_life_rmse",
    "participants",
    "dropped",
    "stragglers",
    "attackers",
    "rejected",
    "node_loss_before",
    "node_loss_after",
    "bytes_up",
    "bytes_down",
    "seconds",
}


def _exe() -> str:
    return shutil.which("tycoon", path=os.path.dirname(sys.executable)) or "tycoon"


def _tycoon(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([_exe(), *args], capture_output=True, text=True, timeout=timeout, env=env)


def test_lab_prints_every_round_and_writes_the_record(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "lab.json"
    done = _tycoon(
        *("lab", "--nodes", "12", "--rounds", "2", "--aggregation", "median"),
        *("--attack", "sign_flip", "--attackers", "0.25", "--personalize", "2"),
        *("--json", str(out)),
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    rounds = [line for line in lines if line.startswith("round ")]
    assert [line.split()[1] for line in rounds] == ["1", "2"], done.stdout
    for column in ("rmse", "late-life rmse", "participants", "rejected", "bytes up", "seconds"):
        assert f"  {column} " in rounds[0], rounds[0]
    final_line = next(line for line in lines if line.startswith("final: "))
    assert final_line.startswith("final: late-life RMSE ") and "capped RMSE " in final_line
    assert "% of the oracle's (margin " in final_line
    assert "Personalization" in done.stdout

    record = json.loads(out.read_text())
    assert set(record) == {"config", "rounds", "final"}
    assert record["config"]["nodes"] == 12 and record["config"]["aggregation"] == "median"
    assert record["config"]["attack"] == "sign_flip" and record["config"]["attackers"] == 0.25
    assert [r["round"] for r in record["rounds"]] == [1, 2]
    for r in record["rounds"]:
        assert set(r) >= ROUND_KEYS
        assert len(r["attackers"]) == 3 and r["bytes_up"] > 0 and r["rmse"] > 0
    final = record["final"]
    assert final["rmse"] > 0 and 0 < final["percent_of_oracle"] <= 100
    assert final["capped_rmse"] > 0 and final["late_life_rmse"] > 0
    calibration = final["calibration"]
    assert calibration["decision"] == "calibrated" and calibration["level"] == 0.9
    assert f"margin {calibration['margin']:g})" in final_line
    assert calibration["rows"] > 0  # every base node's counts, summed
    assert len(final["personalized"]) > 0
    assert {"node", "federated_rmse", "personalized_rmse", "local_rmse"} <= set(
        final["personalized"][0]
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--nodes", "9000"), "--nodes must be between 8 and 8000"),
        (("--aggregation", "nope"), "--aggregation"),
        (("--attack", "sign_flip", "--attackers", "0.9"), "--attackers must be between 0 and 0.5"),
        (("--attackers", "0.2"), "--attackers 0.2 needs --attack"),
        (("--dropout", "1"), "--dropout must be"),
        (("--json", "."), "is a directory"),
        (("--dp-noise", "1"), "--dp-noise needs dp_clip"),
        (("--secure-aggregation", "--aggregation", "median"), "needs every client's own update"),
        (("--compression", "zip"), "--compression"),
    ],
    ids=[
        "nodes",
        "aggregation",
        "attackers",
        "attackers-without-attack",
        "dropout",
        "json-dir",
        "dp-without-clip",
        "secagg-median",
        "compression",
    ],
)
def test_a_bad_flag_value_is_one_clear_line_and_exit_code_2(
    args: tuple[str, ...], words: str
) -> None:
    done = _tycoon("lab", *args, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    problem = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(problem) == 1, done.stderr
    assert problem[0].startswith("error: ") and words in problem[0], problem[0]
    assert "Traceback" not in done.stderr + done.stdout


def test_lab_trains_privately_compressed_and_securely_aggregated(tmp_path: Path) -> None:
    out = tmp_path / "dp.json"
    tiny = ("lab", "--model", "ff09", "--nodes", "10", "--rounds", "2")
    done = _tycoon(
        *tiny, *("--dp-noise", "1.0", "--dp-clip", "0.5", "--sample-fraction", "0.6"),
        *("--compression", "int8", "--json", str(out)),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "privacy: epsilon " in done.stdout
    record = json.loads(out.read_text())
    assert record["config"]["dp_noise"] == 1.0 and record["config"]["compression"] == "int8"
    eps = [r["epsilon"] for r in record["rounds"]]
    assert 0 < eps[0] < eps[1] == record["final"]["epsilon"]
    n_params = 865  # the FF09 network
    for r in record["rounds"]:
        assert r["bytes_up"] == len(r["participants"]) * (8 + n_params)
    out = tmp_path / "secagg.json"
    done = _tycoon(*tiny, "--secure-aggregation", "--json", str(out))
    assert done.returncode == 0, done.stderr
    for r in json.loads(out.read_text())["rounds"]:
        assert r["failure"] is None and r["bytes_up"] > 4 * n_params * len(r["participants"])


def test_help_lists_every_flag_and_choice() -> None:
    done = _tycoon("lab", "--help", timeout=60)
    assert done.returncode == 0, done.stderr
    flags = "--model --nodes --rounds --local-epochs --lr --partition --sample-fraction --dropout"
    flags += " --deadline --aggregation --attack --attackers --personalize --seed --data-dir --json"
    flags += " --dp-noise --dp-clip --dp-delta --target-epsilon --secure-aggregation"
    flags += " --secagg-threshold --compression"
    for flag in flags.split():
        assert flag in done.stdout, flag
    assert "{fedavg,fedprox,fedavgm,fedadam,median,trimmed_mean,krum}" in done.stdout
    assert "{sign_flip,scale,noise,label,nan,free_ride}" in done.stdout


def test_the_clis_choices_are_the_engines() -> None:
    from typing import get_args

    from app.cli import lab
    from fl_engine.lab import LabConfig

    fields = LabConfig.model_fields
    assert get_args(fields["model"].annotation) == lab.MODELS
    assert get_args(fields["partition"].annotation) == lab.PARTITIONS
    assert get_args(fields["aggregation"].annotation) == lab.AGGREGATIONS
    assert ("none", *lab.ATTACKS) == get_args(fields["attack"].annotation)
    assert get_args(fields["compression"].annotation) == lab.COMPRESSIONS


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT")
def test_ctrl_c_stops_after_the_round_and_still_writes_what_it_has(tmp_path: Path) -> None:
    out = tmp_path / "lab.json"
    args = ("lab", "--nodes", "8", "--rounds", "500", "--local-epochs", "3", "--json", str(out))
    proc = subprocess.Popen(
        [_exe(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        for line in proc.stdout:
            if line.startswith("round 1 "):
                break
            assert time.monotonic() < deadline, "no round after 120 s"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted: stopped after round" in stdout and "final: late-life RMSE" in stdout
    record = json.loads(out.read_text())
    assert 1 <= len(record["rounds"]) < 500 and record["final"]["interrupted"] is True
    assert record["final"]["percent_of_oracle"] > 0

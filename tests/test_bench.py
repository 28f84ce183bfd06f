"""`make bench` never rewrites tracked files: results go to an ignored folder unless published, and
every results JSON says when it was produced and on what machine. (The benchmarks themselves are
run by hand; nothing here times anything.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import typer

from bench import record as bench_record
from bench import run

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_default_output_folder_is_ignored_by_git():
    assert run.SCRATCH.parent.parent == ROOT
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(run.SCRATCH / "speed.json")], cwd=ROOT, check=False
    )
    assert ignored.returncode == 0, f"{run.SCRATCH} is not ignored by git"


def test_save_writes_the_readme_results_to_bench_results_only_when_published(tmp_path, monkeypatch):
    published = tmp_path / "results"
    monkeypatch.setattr(bench_record, "RESULTS", published)
    out = tmp_path / "out"
    assert run.save("speed", {"nodes": 80}, out, "cpu", publish=False) == [out / "speed.json"]
    assert not published.exists()
    assert run.save("speed", {"nodes": 80}, out, "cpu", publish=True) == [
        out / "speed.json",
        published / "speed.json",
    ]
    assert run.save("scaling_cuda", {}, out, "cpu", publish=True) == [out / "scaling_cuda.json"]
    assert sorted(p.name for p in published.iterdir()) == ["speed.json"]

    record = json.loads((published / "speed.json").read_text())
    assert record["nodes"] == 80
    assert record["produced"]["date"].startswith(time.strftime("%Y-%m-%d", time.gmtime()))
    assert record["produced"]["command"].startswith("python -m bench.run")
    machine = record["machine"]
    assert machine["logical_cpus"] == os.cpu_count() and machine["torch_threads"] >= 1
    assert machine["cpu"] and machine["python"] and machine["torch"]


@pytest.mark.parametrize(
    "settings",
    [{"seeds": "0"}, {"sizes": "80"}, {"quick": True}],
    ids=["other-seeds", "other-sizes", "quick"],
)
def test_publish_refuses_settings_other_than_the_readmes(settings, tmp_path, monkeypatch):
    monkeypatch.setattr(bench_record, "RESULTS", tmp_path / "results")
    with pytest.raises(typer.Exit) as exit_info:
        run.main(**{"publish": True, "out": tmp_path / "out", **settings})
    assert exit_info.value.exit_code == 2
    assert not (tmp_path / "results").exists() and not (tmp_path / "out").exists()


def test_published_results_say_when_and_where_they_were_produced():
    for name in run.PUBLISHED:
        record = json.loads((ROOT / "bench" / "results" / f"{name}.json").read_text())
        assert time.strptime(record["produced"]["date"][:10], "%Y-%m-%d"), name
        assert record["machine"]["torch"] and record["machine"]["arch"], name
        assert record["quick"] is False, name

"""Which lab runtimes the server says it can run (app/web/lab_runtimes.py, issue 21): checked
against this venv itself (Flower installed or not) and against a folder without Flower's
commands, the way a server without the extra looks."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from app.web.lab_runtimes import FLOWER_COMMANDS, INSTALL_FLOWER, lab_info, runtimes
from app.web.lab_schemas import LabStatus


def _flower(bin_dir: Path | None = None) -> dict:
    return next(r for r in runtimes(bin_dir) if r.name == "flower-deployment").model_dump()


def test_this_venv_is_reported_as_it_is() -> None:
    here = Path(sys.executable).parent
    installed = importlib.util.find_spec("flwr") is not None and all(
        (here / name).exists() for name in FLOWER_COMMANDS
    )
    flower = _flower()
    assert flower["available"] is installed
    assert flower["install"] == (None if installed else INSTALL_FLOWER)


def test_without_flowers_commands_it_is_unavailable_with_the_install_command(
    tmp_path: Path,
) -> None:
    flower = _flower(tmp_path)
    assert flower["available"] is False
    assert flower["install"] == "make install-flower"
    assert flower["why"]  # in words: the package, or the commands missing from tmp_path


def test_the_makefile_has_the_install_command() -> None:
    makefile = (Path(__file__).resolve().parent.parent / "Makefile").read_text()
    assert f"\n{INSTALL_FLOWER.removeprefix('make ')}:" in makefile


def test_lab_info_keeps_the_queue_status_and_adds_the_runtimes() -> None:
    status = LabStatus(max_runs=2, training=1, queued=0, threads=1)
    info = lab_info(status).model_dump()
    assert {k: info[k] for k in status.model_dump()} == status.model_dump()
    assert [r["name"] for r in info["runtimes"]] == ["inprocess", "flower-deployment"]
    assert info["runtimes"][0]["available"] is True


def test_a_status_with_more_fields_keeps_them() -> None:
    class Grown(LabStatus):
        paused: int

    info = lab_info(Grown(max_runs=2, training=0, queued=0, threads=0, paused=1)).model_dump()
    assert info["paused"] == 1 and len(info["runtimes"]) == 2

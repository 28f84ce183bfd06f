"""Which lab runtimes this server can run, for the lab page (issue 21).

Flower is an optional extra (`make install-flower`): without it a run on the `flower-deployment`
runtime passes validation and then fails at its first step, so the page asks beforehand and shows
the runtime disabled with the command that installs it. `GET /api/lab` serves `LabInfo` (the
queue's `LabStatus` plus `runtimes`) once server.py's route returns `lab_info(lab.status())`.

The check looks for what a Flower deployment starts (`fl_engine.flower.cluster`): the `flwr`
package and the `flwr`, `flower-superlink` and `flower-supernode` commands beside this Python.
It only looks (importlib's `find_spec`, no import), so asking costs nothing and never loads
Flower into the web server; the web keeps away from `fl_engine` as the house rules require.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from app.web.lab_schemas import LabStatus

INSTALL_FLOWER = "make install-flower"
# The commands a Flower deployment runs from the venv's bin folder (fl_engine/flower/cluster.py).
FLOWER_COMMANDS = ("flwr", "flower-superlink", "flower-supernode")


class RuntimeInfo(BaseModel):
    """One value of `LabConfig.runtime`: can this server run it, and if not, why and the fix."""

    name: str
    available: bool
    why: str | None = None  # in words, when not available
    install: str | None = None  # the command that makes it available


class LabInfo(LabStatus):
    """GET /api/lab: the training slots (`LabStatus`) and the runtimes this server can run.

    Extra fields are kept: a status that grows fields (a subclass of `LabStatus`) loses none."""

    model_config = ConfigDict(extra="allow")

    runtimes: list[RuntimeInfo]


def flower_missing(bin_dir: Path | None = None) -> str | None:
    """What of Flower is missing here, in words; None when a deployment can start.

    `bin_dir`: where the Flower commands live (default: beside this Python, as the cluster
    starts them)."""
    if importlib.util.find_spec("flwr") is None:
        return "Flower (the optional extra) is not installed on this server"
    where = bin_dir if bin_dir is not None else Path(sys.executable).parent
    absent = [name for name in FLOWER_COMMANDS if not (where / name).exists()]
    if absent:
        many = len(absent) > 1
        return f"Flower's {', '.join(absent)} command{'s are' if many else ' is'} not in {where}"
    return None


def runtimes(bin_dir: Path | None = None) -> list[RuntimeInfo]:
    """Every runtime the lab offers, in the form's order, with whether it can run here."""
    missing = flower_missing(bin_dir)
    flower = RuntimeInfo(
        name="flower-deployment",
        available=missing is None,
        why=missing,
        install=None if missing is None else INSTALL_FLOWER,
    )
    return [RuntimeInfo(name="inprocess", available=True), flower]


def lab_info(status: LabStatus, bin_dir: Path | None = None) -> LabInfo:
    """`status` with the runtimes added: what GET /api/lab answers."""
    return LabInfo(**status.model_dump(), runtimes=runtimes(bin_dir))

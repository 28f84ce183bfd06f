"""The Federation Lab's engine (docs/lab.md, section 2): `LabConfig` and `LabRun`.

`LabRun` (torch) is imported on first use: checking a lab's settings (`tycoon lab` refusing a
bad flag, the web layer validating a form) should not cost torch's import, ~4 s here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from fl_engine.lab.config import LabConfig, LabConfigError, lab_config

if TYPE_CHECKING:
    from fl_engine.data import Runs
    from fl_engine.lab.flower_run import FlowerLabRun
    from fl_engine.lab.run import LabRun


def __getattr__(name: str) -> Any:
    if name == "LabRun":
        from fl_engine.lab.run import LabRun

        return LabRun
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def new_lab_run(
    runs: Runs, config: LabConfig, data_dir: Path | None = None
) -> LabRun | FlowerLabRun:
    """The run for `config.runtime`: in this process, or on a Flower deployment (which needs the
    optional `flwr` package: ValueError saying how to install it when it is missing)."""
    if config.runtime == "inprocess":
        from fl_engine.lab.run import LabRun

        return LabRun(runs, config, data_dir)
    try:
        import flwr  # noqa: F401
    except ImportError:
        raise ValueError(
            f"runtime {config.runtime} needs Flower: pip install -e '.[flower]'"
        ) from None
    from fl_engine.lab.flower_run import FlowerLabRun

    return FlowerLabRun(runs, config, data_dir)


__all__ = ["LabConfig", "LabConfigError", "LabRun", "lab_config", "new_lab_run"]

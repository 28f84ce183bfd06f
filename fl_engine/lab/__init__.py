"""The Federation Lab's engine (docs/lab.md, section 2): `LabConfig` and `LabRun`."""

from fl_engine.lab.config import LabConfig, LabConfigError, lab_config
from fl_engine.lab.run import LabRun

__all__ = ["LabConfig", "LabConfigError", "LabRun", "lab_config"]

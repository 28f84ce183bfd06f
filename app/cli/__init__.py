"""The `tycoon` command line: train models, check data, compare strategies, run the lab, serve.

torch, numpy and the engine are imported inside the commands that use them, so `tycoon --help`
and argument errors answer at once.
"""

from __future__ import annotations

from app.cli import benchmark, compare, data, federate, lab, serve, train
from app.cli.common import app

__all__ = ["app", "benchmark", "compare", "data", "federate", "lab", "main", "serve", "train"]


def main() -> None:
    app()


if __name__ == "__main__":
    main()

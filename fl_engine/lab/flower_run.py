"""A lab run on Flower's deployment runtime (issue 13): a SuperLink and one SuperNode process per
factory on loopback, the rounds streamed to the lab as they land, like an in-process `LabRun`.

The federation is the FF09 protocol's (`fl_engine.flower`: the same split, partition, initial
weights and minibatch stream as `tycoon train`), every node federating, FedAvg. Flower runs the
rounds on its own clock in a background thread; `step()` hands over the next round that
arrived (waiting for it), so pausing the lab pauses the display, not the processes (a paused
run keeps its training slot: docs/lab.md, section 6). `cancel()`/`close()` stop the deployment
at once, mid-round (`deployment.Stopped`, checked every 0.1 s): it stops every process it
started, and `closed` turns true; a `step` waiting meanwhile raises `limits.Cancelled`.

Node losses: each node reports the loss of the model it trained (`node_loss_before`); the loss
of the new global model on its data is not measured by the Flower app (`node_loss_after` null).
The global model reaches the lab when the run ends, so deploying it waits for the last round.
"""

from __future__ import annotations

import queue
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from torch import Tensor

from fl_engine.calibration import Calibration
from fl_engine.data import Runs, resolve_data_dir
from fl_engine.factory_types import FAMILY_DEFAULTS, FeatureScaling
from fl_engine.features import prepare_protocol
from fl_engine.lab.calibrate import lab_calibration
from fl_engine.lab.config import LabConfig
from fl_engine.lab.limits import Cancelled
from fl_engine.model_families import family_of
from fl_engine.partition import PARTITIONS

N_TEST_ENGINES = 80
ROUND_WAIT_S = 600.0  # a round (the first with start-up: 15-40 s) that takes longer has failed
POLL_S = 0.2  # how often a waiting `step` looks at the cancel flag


class FlowerLabRun:
    """The `LabRun` interface (docs/lab.md, section 2) over a Flower deployment."""

    def __init__(self, runs: Runs, config: LabConfig, data_dir: Path | None = None) -> None:
        from fl_engine.flower.spec import FlowerSpec

        self.config = config
        self.rounds_done = 0
        self.records: list[dict[str, Any]] = []
        data = prepare_protocol(runs, config.seed, N_TEST_ENGINES)
        self.normalization = "global"
        self.features = FeatureScaling(data.feature_names, data.feature_mean, data.feature_std)
        self.family = family_of("ff09", {"n_features": data.n_features})
        self.target = self.family.target_scale(data)
        self.data = data
        # the SuperNodes' own deal (`fl_engine.flower.task.load_federation`: same rule and seed)
        deal = PARTITIONS[config.partition](
            data.train_engines,
            data.engine_groups(),
            config.nodes,
            np.random.default_rng(config.seed),
        )
        self.partition = [data.rows_of(p) for p in deal]
        self._out = Path(tempfile.mkdtemp(prefix="tycoon-lab-flower-"))
        self.spec = FlowerSpec(
            seed=config.seed,
            nodes=config.nodes,
            rounds=config.rounds,
            data_dir=resolve_data_dir(data_dir),
            out_dir=self._out,
            local_epochs=config.local_epochs,
            lr=config.lr,
            batch_size=int(FAMILY_DEFAULTS["ff09"]["batch_size"]),
            partition=config.partition,
            non_participant=None,
        )
        self._arrivals: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._cancel = threading.Event()
        self._params: Tensor | None = None
        self._thread = threading.Thread(target=self._play, name="lab-flower", daemon=True)
        self._thread.start()

    def _play(self) -> None:
        from fl_engine.flower.cluster import Stopped
        from fl_engine.flower.deployment import run_deployment_runtime

        try:
            outcome = run_deployment_runtime(
                self.spec, on_round=self._on_round, stop=self._cancel.is_set
            )
            self._arrivals.put(("done", outcome.global_params))
        except Stopped:
            self._arrivals.put(("cancelled", None))
        except BaseException as exc:
            self._arrivals.put(("error", exc))
        finally:
            shutil.rmtree(self._out, ignore_errors=True)

    def _on_round(self, round_no: int, record: dict[str, Any]) -> None:
        self._arrivals.put(("round", record))

    @property
    def done(self) -> bool:
        return self.rounds_done >= self.config.rounds

    def _next(self, want: str) -> Any:
        give_up = time.monotonic() + ROUND_WAIT_S
        while True:
            if self._cancel.is_set():
                raise Cancelled("the run was cancelled")
            try:
                kind, item = self._arrivals.get(timeout=POLL_S)
            except queue.Empty:
                if time.monotonic() < give_up:
                    continue
                wait = f"{ROUND_WAIT_S:.0f} s"
                raise ValueError(f"the Flower deployment sent nothing for {wait}") from None
            give_up = time.monotonic() + ROUND_WAIT_S
            if kind == "error":
                raise ValueError(f"the Flower deployment failed: {item}") from item
            if kind == "cancelled":
                raise ValueError("the Flower deployment was stopped")
            if kind == want:
                return item

    def step(self) -> dict[str, Any]:
        """The next round's record, waiting for Flower to finish it."""
        if self.done:
            raise ValueError(f"the run has played all its {self.config.rounds} rounds")
        start = time.perf_counter()
        got = self._next("round")
        self.rounds_done = int(got["round"])
        if self.done:
            self._params = self._next("done")
        n = self.config.nodes
        before: list[float | None] = [None] * n
        for node in got.get("nodes", []):
            before[int(node["node"])] = node.get("loss_trained")
        record = {
            "round": self.rounds_done,
            "rmse": got.get("test_rmse"),
            "late_life_rmse": got.get("late_life_rmse"),
            "participants": sorted(int(m["node"]) for m in got.get("nodes", [])),
            "dropped": list(got.get("dropped", [])),
            "stragglers": [],
            "attackers": [],
            "rejected": list(got.get("rejected", [])),
            "node_loss_before": before,
            "node_loss_after": [None] * n,
            "bytes_up": int(got.get("bytes_up", 0)),
            "bytes_down": int(got.get("bytes_down", 0)),
            "epsilon": None,
            "clip": None,
            "failure": None,
            "runtime": "flower-deployment",
            "flower_seconds": got.get("seconds"),
            "seconds": time.perf_counter() - start,
        }
        self.records.append(record)
        return record

    def run(self) -> list[dict[str, Any]]:
        played = []
        while not self.done:
            played.append(self.step())
        return played

    def cancel(self) -> None:
        """Stop the deployment now (its thread then stops every process); no wait."""
        self._cancel.set()

    def close(self) -> None:
        """As `cancel`: the run is over."""
        self.cancel()

    @property
    def closed(self) -> bool:
        """The deployment has ended and every process it started is stopped."""
        return not self._thread.is_alive()

    def final(self) -> dict[str, Any]:
        last = self.records[-1] if self.records else {}
        return {
            "rmse": last.get("rmse"),
            "late_life_rmse": last.get("late_life_rmse"),
            "rounds_done": self.rounds_done,
            "personalized": [],
            "epsilon": None,
            "delta": None,
            "stopped": None,
        }

    def record(self) -> dict[str, Any]:
        return {
            "config": self.config.model_dump(),
            "rounds": list(self.records),
            "final": self.final(),
        }

    def calibration(self) -> Calibration:
        """The final model's margin from per-node residual counts on the SuperNodes' deal, counted
        here in the lab's process (the SuperNodes do not count them yet)."""
        return lab_calibration(self)

    def global_params(self) -> Tensor:
        if self._params is None:
            raise ValueError("the Flower run's model reaches the lab when its last round ends")
        return self._params.clone()

    def predict(self, x: Tensor, engine_rows: list[NDArray[np.intp]]) -> NDArray[np.float64]:
        """As `LabRun.predict`, with the deployment's final global model."""
        params = self.global_params()
        inputs = self.family.inputs(x, engine_rows)
        out: NDArray[np.float64] = self.target.to_cycles(self.family.predict(params[None], inputs))[
            0
        ]
        return out

"""The server's lab resources: training slots handed out in turn, and the worker threads.

- `LabQueue`: at most `max_lab_runs` runs train at once, server-wide. A run that finds every slot
  taken waits in line (first come, first served) and is told its position whenever it moves.
  A run holds its slot for its whole life (a Flower deployment's processes live that long),
  except an in-process run while paused, which may give it back if one of the
  `max_paused_lab_runs` paused places is free (`park`): its memory stays bounded all the same.
- `LabWorkers` (`app.web.lab_workers`): the daemon threads of the lab's blocking work.
- `LabServer.shutdown`: cancels every live run, then waits a few seconds at most for their
  threads and processes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from types import ModuleType
from typing import Any, Protocol, TypeVar

from app.game.decisions import DecisionTables
from app.game.engines import EngineTrace
from app.web.lab_schemas import LabStatus
from app.web.lab_workers import LabWorkers
from app.web.registry import GameRegistry
from app.web.settings import Settings

T = TypeVar("T")
SHUTDOWN_WAIT_S = 3.0  # what a stopping server waits for its cancelled runs, at most
CLOSE_WAIT_S = 10.0  # what a closing Flower deployment is given to stop its processes


class LabRunLike(Protocol):
    """What the web uses of the engine's `LabRun` (docs/lab.md, section 2)."""

    config: Any
    rounds_done: int
    records: list[dict[str, Any]]

    @property
    def done(self) -> bool: ...

    @property
    def closed(self) -> bool: ...

    def step(self) -> dict[str, Any]: ...

    def final(self) -> dict[str, Any]: ...

    def calibration(self) -> Any: ...

    def cancel(self) -> None: ...

    def close(self) -> None: ...


class Ticket:
    """A run's place: waiting at `position` (1 = next), or `granted` a training slot."""

    def __init__(self) -> None:
        self.granted = False
        self.position = 0
        self.moved = asyncio.Event()  # set whenever `granted` or `position` changes


class LabQueue:
    """Training slots, server-wide, handed out in order of arrival."""

    def __init__(self, limit: int, paused_limit: int = 0) -> None:
        self.limit = limit
        self.training: set[Ticket] = set()
        self.waiting: list[Ticket] = []
        self.paused_limit = paused_limit
        self.parked: set[object] = set()  # paused runs that gave their slot back

    def park(self, run: object) -> bool:
        """Take one of the paused places for `run` (True), or none is free (False)."""
        if run not in self.parked and len(self.parked) >= self.paused_limit:
            return False
        self.parked.add(run)
        return True

    def unpark(self, run: object) -> None:
        self.parked.discard(run)

    def join(self) -> Ticket:
        """A ticket: granted at once if a slot is free, else at the end of the line."""
        ticket = Ticket()
        self.waiting.append(ticket)
        self._promote()
        return ticket

    def leave(self, ticket: Ticket) -> None:
        """Give the slot back (or leave the line); the runs behind move up."""
        self.training.discard(ticket)
        if ticket in self.waiting:
            self.waiting.remove(ticket)
        ticket.granted = False
        self._promote()

    def _promote(self) -> None:
        while self.waiting and len(self.training) < self.limit:
            ticket = self.waiting.pop(0)
            ticket.granted, ticket.position = True, 0
            self.training.add(ticket)
            ticket.moved.set()
        for position, ticket in enumerate(self.waiting, start=1):
            if ticket.position != position:
                ticket.position = position
                ticket.moved.set()


class LabBackend:
    """The engine, reached through `app.lab_bridge` on first use (torch stays out of start-up).

    Every method but `config` blocks: call them in a worker thread.
    """

    def __init__(self, settings: Settings, pool: Sequence[EngineTrace]) -> None:
        self.settings = settings
        self.pool = list(pool)
        self._lock = threading.Lock()
        self._runs: Any = None

    @staticmethod
    def bridge() -> ModuleType:
        import app.lab_bridge

        return app.lab_bridge

    def engine(self, name: str) -> Any:
        """`name` as the lab bridge exports it (its `__all__`): the web keeps to the bridge."""
        bridge = self.bridge()
        if name not in bridge.__all__:
            raise AttributeError(f"the lab bridge offers no {name}")
        return getattr(bridge, name)

    @property
    def config_fields(self) -> Collection[str]:
        fields: Mapping[str, Any] = self.engine("LabConfig").model_fields
        return fields.keys()

    def config(self, data: dict[str, Any]) -> Any:
        """The engine's `LabConfig` of `data`; raises pydantic's ValidationError."""
        return self.engine("LabConfig").model_validate(data)

    def setup_thread(self) -> None:
        """Each lab thread trains with one torch thread (two runs on two cores, games beside)."""
        self.engine("set_torch_threads")(1)

    def runs(self) -> Any:
        """The engine's data, loaded once."""
        with self._lock:
            if self._runs is None:
                data_dir = self.engine("resolve_data_dir")(self.settings.data_dir)
                self._runs = self.engine("load_runs")(data_dir)
            return self._runs

    def work(self, config: Any) -> Any:
        """`config`'s estimated training work (the engine's `LabWork`: `.total`, `.refusal`)."""
        return self.engine("LabRun").estimate_work(self.runs(), config, self.settings.data_dir)

    def new_run(self, config: Any) -> LabRunLike:
        run: LabRunLike = self.engine("new_lab_run")(self.runs(), config, self.settings.data_dir)
        return run

    def deploy(self, run: LabRunLike) -> tuple[list[EngineTrace], DecisionTables]:
        """The game's engines with the run's predictions, and their decision tables, warmed."""
        pool: list[EngineTrace] = self.bridge().deployed_traces(list(self.pool), run, self.runs())
        tables = DecisionTables(pool, self.settings.game)
        tables.next_stop("federated")  # built here, not on the event loop at the next decision
        return pool, tables

    def scored_final(self, run: LabRunLike) -> dict[str, Any]:
        """`run.final()` with the lab's headline in dollars: its model's % of the oracle in the
        game under the game's decision, and its calibration (as `tycoon lab` reports them); a
        model the game cannot use gets `percent_of_oracle` null and `not_deployed` saying why."""
        final = dict(run.final())
        final["percent_of_oracle"] = None
        try:
            pool, _ = self.deploy(run)
        except ValueError as exc:
            final["not_deployed"] = str(exc)
            return final
        final["percent_of_oracle"] = self.percent_of_oracle(pool)
        final["calibration"] = run.calibration().to_json(self.settings.game.decision)
        return final

    def percent_of_oracle(self, pool: Sequence[EngineTrace]) -> float:
        return float(self.bridge().percent_of_oracle(list(pool), self.settings.game))

    def reference(self) -> tuple[float, float]:
        """The default federated model's % of the oracle, and the local models' (median)."""
        default = self.percent_of_oracle(self.pool)
        first = self.pool[0]
        local = []
        for node in range(first.n_nodes):  # each factory's model (and margin) in federated's place
            margins = dataclasses.replace(first.margins, federated=first.margins.of("local", node))
            local.append(
                self.percent_of_oracle(
                    [
                        dataclasses.replace(t, federated_rul=t.local_rul[node], margins=margins)
                        for t in self.pool
                    ]
                )
            )
        return default, float(statistics.median(local))


class LabServer:
    """The server's lab: training slots, worker threads, the engine, and the games to deploy to."""

    def __init__(self, settings: Settings, registry: GameRegistry, backend: LabBackend) -> None:
        self.settings = settings
        self.registry = registry
        self.backend = backend
        self.queue = LabQueue(settings.max_lab_runs, settings.max_paused_lab_runs)
        self.workers = LabWorkers(settings.max_lab_runs, backend.setup_thread)
        self._reference: asyncio.Task[tuple[float, float]] | None = None
        self.runs: set[LabRunLike] = set()  # every run built and not yet closed
        self.stopping = False  # the server is going: its runs were cancelled

    async def reference(self) -> tuple[float, float]:
        """`backend.reference()`, computed once (in a thread) for the server's life."""
        if self._reference is None or (
            self._reference.done() and self._reference.exception() is not None
        ):
            self._reference = asyncio.create_task(asyncio.to_thread(self.backend.reference))
        return await asyncio.shield(self._reference)

    def status(self) -> LabStatus:
        return LabStatus(
            max_runs=self.queue.limit,
            training=len(self.queue.training),
            queued=len(self.queue.waiting),
            threads=self.workers.busy,
        )

    def refusal(self, config: Any) -> str | None:
        """Why `config` is too big for this server, in words (its estimated work and the
        `max_lab_work` limit), or None. Blocks (the data is loaded on first use)."""
        work = self.backend.work(config)
        limit = self.settings.max_lab_work
        return str(work.refusal(limit)) if work.total > limit else None

    async def retire(self, run: LabRunLike) -> None:
        """The run is over: close it and wait (`CLOSE_WAIT_S` at most) until it has stopped
        (a Flower deployment's processes gone), then forget it."""
        try:
            run.close()
            give_up = time.monotonic() + CLOSE_WAIT_S
            while not run.closed and time.monotonic() < give_up:
                await asyncio.sleep(0.1)
        finally:
            self.runs.discard(run)

    def may_park(self, owner: object, run: LabRunLike) -> bool:
        """Whether a paused `run` gives its slot back: in process, with a paused place free
        (taken for `owner`); a Flower deployment keeps it, its processes go on."""
        inprocess = getattr(run.config, "runtime", "inprocess") == "inprocess"
        return inprocess and self.queue.park(owner)

    def shutdown(self, wait_s: float = SHUTDOWN_WAIT_S) -> bool:
        """Cancel every live run (rounds stop between batches of nodes, deployments stop their
        processes), then wait up to `wait_s` for them; True if all of them stopped in time."""
        self.stopping = True
        runs = list(self.runs)
        for run in runs:
            run.cancel()
        give_up = time.monotonic() + wait_s
        idle = self.workers.shutdown(wait_s)  # one deadline for both waits
        while not all(run.closed for run in runs) and time.monotonic() < give_up:
            time.sleep(0.05)
        return idle and all(run.closed for run in runs)

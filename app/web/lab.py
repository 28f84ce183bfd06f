"""The lab websocket `/ws/lab` (docs/lab.md, section 4): one federation trained live per connection.

The receiver validates every message (`app.web.lab_schemas`) and answers a wrong one with an error
frame; the connection goes on. `start` launches the run's task, which waits for a training slot
(`queued` frames with its position), builds the run and plays it round by round in a worker
thread, one `round` frame each, and ends with `finished` or `cancelled`. Pause, resume, step and
cancel act between rounds. A closed socket cancels the run; the handler returns only once the
run's thread is done with its round. `deploy` puts the run's current global model behind the
federated strategy of one live game session (`app.web.lab_deploy`: a model that earns less than
the default one waits for the player's confirmation).

Limits (docs/lab.md, section 6): a run too big for `max_lab_work` is refused in words; cancel, a
closed socket and a stopping server set the run's cancel flag, so a round under way ends in seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.web.connection import send_text
from app.web.lab_deploy import deploy, not_live, refused
from app.web.lab_runs import LabRunLike, LabServer, Ticket
from app.web.lab_schemas import (
    Cancel,
    Cancelled,
    Deploy,
    Finished,
    LabError,
    LabMessageError,
    Pause,
    Queued,
    Resume,
    RoundFrame,
    RoundRecord,
    Start,
    Started,
    Status,
    Step,
    config_error,
    parse_lab_message,
)
from app.web.rate_limit import TokenBucket

_log = logging.getLogger("tycoon.lab")


class LabConnection:
    """One browser tab (or client) of the lab, with at most one run."""

    def __init__(self, websocket: WebSocket, server: LabServer) -> None:
        settings = server.settings
        self.ws = websocket
        self.server = server
        self.bucket = TokenBucket(settings.commands_per_second, settings.command_burst)
        self._send_lock = asyncio.Lock()
        self._model_lock = asyncio.Lock()  # a round and a deployment never use the model at once
        self._task: asyncio.Task[None] | None = None
        self._deploying: asyncio.Task[None] | None = None
        self._run: LabRunLike | None = None
        self._ticket: Ticket | None = None
        self._wake = asyncio.Event()
        self._paused = self._single = self._stop = False

    async def serve(self) -> None:
        """Read messages until the client leaves; then cancel the run and wait for its thread."""
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                await self._on_text(message.get("text"))
        except WebSocketDisconnect:
            return
        finally:
            self._halt()
            tasks = [t for t in (self._task, self._deploying) if t is not None]
            for task in tasks:
                task.cancel()
            # Only a stopping server cancels this handler (after its 1 s grace): its lab
            # shutdown waits for the runs, so the handler returns rather than fail loudly.
            with contextlib.suppress(asyncio.CancelledError):
                if tasks:
                    await asyncio.wait(tasks)

    # ---------------------------------------------------------------- messages

    async def _on_text(self, text: str | None) -> None:
        if not self.bucket.take():
            report = self.bucket.report()
            if report is not None:
                await self._send(LabError(message=report))
            return
        try:
            settings = self.server.settings
            message = parse_lab_message(text, settings.max_message_bytes, settings.max_json_depth)
        except LabMessageError as exc:
            await self._send(LabError(message=str(exc), field=exc.field))
            return
        active = self._task is not None and not self._task.done()
        match message:
            case Start(config=data):
                if active:
                    await self._error("a run is going on this connection: cancel it first")
                    return
                try:
                    config = await asyncio.to_thread(self.server.backend.config, data)
                except ValidationError as exc:
                    error = config_error(exc, self.server.backend.config_fields)
                    await self._send(LabError(message=str(error), field=error.field))
                    return
                if not await self._affordable(config):
                    return
                self._run, self._ticket = None, None
                self._paused = self._single = self._stop = False
                self._task = asyncio.create_task(self._train(config), name="lab-run")
            case Pause() | Resume() | Step() | Cancel() if not active:
                await self._error(f"there is no run to {message.type}: start one first")
            case Pause():
                self._paused = True
                await self._status()
            case Resume():
                self._paused = False
                self._wake.set()
                await self._status()
            case Step():
                if not self._paused:
                    await self._error("step plays one round while paused: pause first")
                    return
                self._single = True
                self._wake.set()
            case Cancel():
                self._halt()
            case Deploy():
                await self._start_deploy(message)

    async def _affordable(self, config: Any) -> bool:
        """Within `max_lab_work`; else refused in words before it takes a place in line."""
        try:
            refusal = await asyncio.to_thread(self.server.refusal, config)
        except Exception as exc:
            refusal = f"the lab could not size this run: {exc}"
        if refusal is not None:
            await self._error(refusal)
        return refusal is None

    def _halt(self) -> None:
        """Stop the run: out of the queue, or its round under way ended at its next check."""
        self._stop = True
        self._wake.set()
        if self._ticket is not None:
            self._ticket.moved.set()
        if self._run is not None:
            self._run.cancel()

    async def _status(self) -> None:
        rounds = self._run.rounds_done if self._run is not None else 0
        state = "paused" if self._paused else "running"
        await self._send(Status(state=state, rounds_done=rounds))

    # ---------------------------------------------------------------- training

    async def _train(self, config: Any) -> None:
        server = self.server
        try:
            if not await self._slot():
                await self._send(Cancelled(rounds_done=0))
                return
            await self._send(Started(config=config.model_dump(mode="json")))
            run = await server.workers.call(lambda: server.backend.new_run(config))
            self._run = run
            server.runs.add(run)
            while not run.done and not self._stop:
                if self._paused and not self._single:
                    if self._ticket is not None and server.may_park(self, run):
                        self._release()  # a paused place frees the slot (else it is kept)
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                if not await self._slot():
                    break
                self._single = False
                try:
                    async with self._model_lock:
                        record = await server.workers.call(run.step)
                except Exception:
                    if self._stop or server.stopping:  # cancelled under way (`Cancelled`)
                        break
                    raise
                await self._send(RoundFrame(record=RoundRecord.model_validate(record)))
            if run.done:
                final = await server.workers.call(lambda: server.backend.scored_final(run))
                await self._send(Finished(final=final))
            else:
                await self._send(Cancelled(rounds_done=run.rounds_done))
        except (asyncio.CancelledError, WebSocketDisconnect):
            raise
        except Exception as exc:
            _log.exception("lab run failed")
            with contextlib.suppress(Exception):
                await self._send(LabError(message=f"the lab run failed: {exc}"))
        finally:
            try:  # a Flower deployment holds its slot until its processes are gone
                if self._run is not None:
                    await server.retire(self._run)
            finally:
                self._release()
                server.queue.unpark(self)

    async def _slot(self) -> bool:
        """Hold a training slot, waiting in line if needed; False if cancelled meanwhile."""
        if self._ticket is None:
            self._ticket = self.server.queue.join()
        ticket = self._ticket
        while True:
            ticket.moved.clear()
            if ticket.granted or self._stop:
                if ticket.granted:
                    self.server.queue.unpark(self)  # training again: its paused place frees
                return not self._stop
            position = ticket.position
            await self._send(
                Queued(
                    position=position,
                    message=f"lab busy, position {position}: {self.server.queue.limit} "
                    "run(s) train at once; yours starts when a slot frees",
                )
            )
            await ticket.moved.wait()

    def _release(self) -> None:
        if self._ticket is not None:
            self.server.queue.leave(self._ticket)
            self._ticket = None

    # ---------------------------------------------------------------- deploying

    async def _start_deploy(self, message: Deploy) -> None:
        run = self._run
        if run is None or run.rounds_done == 0:
            await self._send(refused("nothing to deploy yet: start a run and let it play a round"))
        elif self._deploying is not None and not self._deploying.done():
            await self._send(refused("a deployment is under way: wait for its answer"))
        elif message.session not in self.server.registry.games:
            await self._send(not_live(message.session))
        else:
            self._deploying = asyncio.create_task(self._deploy(run, message), name="lab-deploy")

    async def _deploy(self, run: LabRunLike, message: Deploy) -> None:
        try:
            frame = await deploy(self.server, run, message, self._model_lock)
        except (asyncio.CancelledError, WebSocketDisconnect):
            raise
        except Exception as exc:
            _log.exception("lab deployment failed")
            frame = LabError(message=f"the deployment failed: {exc}")
        with contextlib.suppress(WebSocketDisconnect):
            await self._send(frame)

    # ---------------------------------------------------------------- sending

    async def _error(self, message: str, field: str | None = None) -> None:
        await self._send(LabError(message=message, field=field))

    async def _send(self, frame: BaseModel) -> None:
        async with self._send_lock:
            await send_text(self.ws, frame.model_dump_json())

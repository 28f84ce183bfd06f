"""A long-lived ClientApp executor for one SuperNode (``--isolation process``).

Flower 1.41's ``flwr-clientapp`` serves exactly one message: the SuperNode's SuperExec
starts one per message, and each imports flwr and torch and reloads the node's data
(tens of CPU-seconds per round on a small machine). With ``flower-supernode --isolation
process`` the SuperNode starts no SuperExec and waits for an external one on its Runtime
API. This module is that external executor: it acquires ClientApp tasks from the
SuperNode's Runtime API (the same calls ``flower-superexec`` and ``flwr-clientapp``
make, with the per-task token) and runs each one in this process, with the FAB installed
and the ClientApp loaded once per FAB hash, so imports and module-level caches (the
node's partition) survive from round to round and from run to run.

Run: ``python -m fl_engine.flower.warm_clientapp --runtime-api-address 127.0.0.1:PORT
--insecure [--parent-pid PID]``.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from fl_engine.flower.doorbell import Doorbell

_TASK_TYPE = "flwr-clientapp"
RUNG_POLL_S = 0.5


def _client(address: str, insecure: bool, certificates: bytes | None, token: str | None) -> Any:
    from flwr.supercore.interceptors import (
        RuntimeTokenHttpInterceptor,
        RuntimeVersionHttpInterceptor,
    )
    from flwr.supercore.retry import make_simple_http_retry_invoker
    from flwr.supercore.runtime import RuntimeHttpClient

    name = "flwr-clientapp" if token else "SuperExec"
    interceptors: list[Any] = [RuntimeVersionHttpInterceptor(component_name=name)]
    if token:
        interceptors.append(RuntimeTokenHttpInterceptor(token))
    return RuntimeHttpClient.from_server_address(
        server_address=address,
        insecure=insecure,
        root_certificates=certificates,
        interceptors=interceptors,
        retry_invoker=make_simple_http_retry_invoker(),
    )


class WarmExecutor:
    """Acquires ClientApp tasks and runs them here, with ClientApps cached by FAB hash."""

    def __init__(self, address: str, insecure: bool, certificates: bytes | None) -> None:
        self.address = address
        self.insecure = insecure
        self.certificates = certificates
        self.apps: dict[str, Any] = {}
        self.tasks_run = 0

    def poll_once(self, control: Any) -> bool:
        """Acquire and run one task; False when there was none."""
        from flwr.proto.runtime_pb2 import AcquireTaskRequest

        res = control.AcquireTask(
            AcquireTaskRequest(supported_task_types=[_TASK_TYPE], agentapp_fab_hashes=[])
        )
        if not (res.HasField("task") and res.token):
            return False
        self.run_task(str(res.token))
        return True

    def _app(self, run: Any, fab: Any) -> Any:
        from flwr.cli.install import install_from_fab
        from flwr.clientapp.utils import get_load_client_app_fn

        key = str(fab.hash_str)
        if key not in self.apps:
            install_from_fab(fab.content, skip_prompt=True)
            load = get_load_client_app_fn(default_app_ref="", app_path=None, multi_app=True)
            self.apps[key] = load(run.fab_id, run.fab_version, fab.hash_str)
        return self.apps[key]

    def run_task(self, token: str) -> None:
        """Pull the task's message, run the cached ClientApp, push reply and status."""
        from flwr.app import Message
        from flwr.app.error import Error
        from flwr.common.constant import ErrorCode, SubStatus
        from flwr.supercore.heartbeat import HeartbeatSender, make_task_heartbeat_fn_http
        from flwr.supernode.runtime.run_clientapp import (
            pull_task_input,
            push_message,
            push_task_output,
        )

        client = _client(self.address, self.insecure, self.certificates, token)
        heartbeat = HeartbeatSender(make_task_heartbeat_fn_http(client))
        message = reply = context = None
        status, details = SubStatus.FAILED, "ClientApp task failed"
        try:
            heartbeat.start()
            message, context, run, fab = pull_task_input(client)
            reply = self._app(run, fab)(message=message, context=context)
            status, details = SubStatus.COMPLETED, ""
        except Exception as ex:
            logging.getLogger(__name__).exception("ClientApp raised")
            details = f"{type(ex)}:<'{ex}'>"
            if message is not None:
                error = Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=details)
                reply = Message(error, reply_to=message)
        finally:
            try:
                if reply is not None and context is not None:
                    push_message(client, reply, context)
            finally:
                push_task_output(client=client, context=context, sub_status=status, details=details)
                if heartbeat.is_running:
                    heartbeat.stop()
                client.close()
                self.tasks_run += 1


def serve(
    address: str,
    insecure: bool = True,
    certificates: bytes | None = None,
    parent_pid: int | None = None,
    poll_s: float = 0.02,
    idle_poll_s: float = 1.0,
    bell: Doorbell | None = None,
) -> None:
    """Serve ClientApp tasks of the SuperNode at ``address`` until killed. Between tasks it
    polls every ``poll_s`` right after one, backing off to ``idle_poll_s`` when idle
    (`fl_engine.flower.patches.AdaptiveNap`): fast within a run, cheap between runs. Where its
    SuperNode rings ``bell`` on a new message (`fl_engine.flower.doorbell`), a ring ends the
    nap and polls are only a fallback (at least 0.5 s apart)."""
    from flwr.supercore.app_utils import start_parent_process_monitor

    from fl_engine.flower.patches import AdaptiveNap

    if parent_pid is not None:
        start_parent_process_monitor(parent_pid)
    executor = WarmExecutor(address, insecure, certificates)
    control = _client(address, insecure, certificates, None)
    least = max(poll_s, RUNG_POLL_S) if bell is not None else poll_s
    nap = AdaptiveNap(least, max(least, idle_poll_s))
    while True:
        try:
            busy = executor.poll_once(control)
        except Exception:
            logging.getLogger(__name__).debug("AcquireTask failed", exc_info=True)
            busy = False
        if busy:
            nap.worked()
        else:
            nap.nap(bell)


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m fl_engine.flower.warm_clientapp``."""
    parser = argparse.ArgumentParser(description="Long-lived ClientApp executor")
    parser.add_argument("--runtime-api-address", required=True)
    parser.add_argument("--insecure", action="store_true")
    parser.add_argument("--root-certificates", default=None)
    parser.add_argument("--parent-pid", type=int, default=None)
    parser.add_argument("--poll-interval", type=float, default=0.02, help="right after a task")
    parser.add_argument("--idle-poll-interval", type=float, default=1.0, help="when idle")
    args = parser.parse_args(argv)
    bell = Doorbell.executor()
    if bell is not None:
        bell.listen()
    certificates = None
    if args.root_certificates:
        with open(args.root_certificates, "rb") as handle:
            certificates = handle.read()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    serve(
        args.runtime_api_address,
        args.insecure,
        certificates,
        args.parent_pid,
        args.poll_interval,
        args.idle_poll_interval,
        bell,
    )


if __name__ == "__main__":
    main()

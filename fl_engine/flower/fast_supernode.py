"""``flower-supernode`` with a shorter idle pull interval (opt-in, loopback games).

Flower 1.41's SuperNode sleeps a hard-coded 3 s after every pull that brought no message
(``flwr.supernode.start_client_internal``: ``time.sleep(3)``). Between rounds every node
sees one empty pull, so each round waits for the slowest node's 0-3 s nap. This launcher
gives that module a ``time`` whose ``sleep`` caps naps at ``TYCOON_SUPERNODE_POLL_S``
(default 0.2 s) and otherwise runs the stock ``flower-supernode`` entry point with the
same arguments. It also announces a 10 s heartbeat (``TYCOON_SUPERNODE_HEARTBEAT_S``,
Flower's minimum; its default is 30 s), so the SuperLink declares a dead node offline after
about 20-30 s instead of about a minute. Everything else (protocol, flags, isolation) is Flower's own.
"""

from __future__ import annotations

import os
import time
import types


def _capped_time(limit_s: float) -> types.ModuleType:
    proxy = types.ModuleType("time")
    proxy.__dict__.update(time.__dict__)

    def sleep(seconds: float) -> None:
        time.sleep(min(seconds, limit_s))

    proxy.sleep = sleep  # type: ignore[attr-defined]
    return proxy


def main() -> None:
    """Patch the SuperNode's idle nap, then run ``flower-supernode``."""
    from flwr.supercore import heartbeat
    from flwr.supernode import fleet_http_connection, start_client_internal
    from flwr.supernode.cli.flower_supernode import flower_supernode

    limit_s = float(os.environ.get("TYCOON_SUPERNODE_POLL_S", "0.2"))
    start_client_internal.time = _capped_time(limit_s)  # type: ignore[attr-defined]
    beat_s = int(os.environ.get("TYCOON_SUPERNODE_HEARTBEAT_S", "10"))
    for module in (fleet_http_connection, heartbeat):
        setattr(module, "HEARTBEAT_DEFAULT_INTERVAL", beat_s)  # noqa: B010
    flower_supernode()


if __name__ == "__main__":
    main()

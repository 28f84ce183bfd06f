"""``flower-supernode`` with this project's polling patches (loopback games and benchmarks).

Runs the stock ``flower-supernode`` entry point, same arguments, after
`fl_engine.flower.patches.patch_supernode`: an adaptive idle nap instead of Flower's hard-coded
3 s (``TYCOON_SUPERNODE_POLL_S`` right after a message, default 0.1 s, growing to
``TYCOON_SUPERNODE_IDLE_POLL_S``, default 2 s, when idle), a 20 ms wait for the ClientApp's reply
instead of 0.5 s, and a 10 s heartbeat (``TYCOON_SUPERNODE_HEARTBEAT_S``; Flower's default 30 s)
so a dead node is declared offline in ~20-30 s. What each patch replaces and how to drop it:
`fl_engine.flower.patches`. Everything else (protocol, flags, isolation) is Flower's own.

Run: ``python -m fl_engine.flower.fast_supernode [flower-supernode arguments]``.
"""

from __future__ import annotations

from fl_engine.flower.patches import patch_supernode


def main() -> None:
    """Patch the SuperNode's naps and heartbeat, then run ``flower-supernode``."""
    from flwr.supernode.cli.flower_supernode import flower_supernode

    patch_supernode()
    flower_supernode()


if __name__ == "__main__":
    main()

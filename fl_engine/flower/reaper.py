"""The last line of cleanup: a small process that outlives its parent and ends what it leaves.

`PR_SET_PDEATHSIG` (`processes.die_with_parent`) reaches only the parent's own children. Flower
starts grandchildren the parent never sees: the SuperLink's SuperExec runs detached (its own
session) and starts the ServerApp, which, its SuperLink gone, retries its connection for ever
(measured: a ServerApp still alive a minute after its parent was SIGKILLed). So each `ProcessSet`
starts one reaper, in its own session and without the set's mark, holding the read end of a pipe
whose write end only the parent holds. When the parent closes it (its normal stop) or dies
(however: the kernel closes its files), the reaper reads end-of-file, SIGKILLs every process
that carries the set's mark (`processes.MARK_ENV`, inherited by everything the deployment
started, whoever its parent is now), and exits.

Run: ``python -m fl_engine.flower.reaper MARK`` with the pipe on stdin.
"""

from __future__ import annotations

import signal
import sys
import time

SWEEPS = 3  # a process being started while the first sweep runs is caught by the next
SWEEP_GAP_S = 0.3


def reap(mark: str) -> int:
    """SIGKILL every live process carrying `mark`, a few sweeps apart; how many were found."""
    import psutil  # type: ignore[import-untyped]

    from fl_engine.flower.processes import marked

    killed: set[int] = set()
    for sweep in range(SWEEPS):
        for proc in marked(mark):
            try:
                proc.kill()
                killed.add(proc.pid)
            except psutil.Error:
                continue
        if sweep + 1 < SWEEPS:
            time.sleep(SWEEP_GAP_S)
    return len(killed)


def main() -> None:
    """Wait for end-of-file on stdin, then reap the mark given as the only argument."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only the pipe ends the wait
    mark = sys.argv[1]
    while sys.stdin.buffer.read(4096):
        pass
    reap(mark)


if __name__ == "__main__":
    main()

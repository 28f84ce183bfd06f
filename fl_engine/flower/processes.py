"""Processes a Flower deployment starts on this machine, and how they all stop.

Every process runs in its own session (process group). Stopping sends SIGTERM to each
group, waits, then SIGKILLs the groups and every descendant seen so far or found by a
fresh scan (a ClientApp or SuperExec may outlive its group leader, or leave it), and last
every process on the machine that carries this set's mark (`MARK_ENV` in its environment,
inherited by everything the deployment starts: the SuperLink's detached SuperExec too).

Whatever way the parent goes, its processes go with it: each one is started with
`PR_SET_PDEATHSIG` = SIGKILL (Linux), so a parent killed by SIGKILL (no handler runs)
takes its SuperLink, SuperNodes and executors along, and Flower's own children watch
their parents (`--parent-pid`) and stop within a second of them.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psutil  # type: ignore[import-untyped]

QUIET_ENV: dict[str, str] = {
    "FLWR_TELEMETRY_ENABLED": "0",
    "FLWR_DISABLE_UPDATE_CHECK": "1",
    "FLWR_SUPEREXEC_TASK_POLL_INTERVAL": "0.5",  # starts the ServerApp: once a run
    "PYTHONUNBUFFERED": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
_REPO = Path(__file__).resolve().parents[2]
MARK_ENV = "TYCOON_FLOWER_SET"  # the environment variable marking one ProcessSet's processes
_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def die_with_parent() -> Callable[[], None]:
    """A `preexec_fn`: the child gets SIGKILL when the thread that started it ends (so when its
    parent process dies, however), and exits at once if the parent is already gone."""
    parent, kill = os.getpid(), int(signal.SIGKILL)

    def preexec() -> None:
        if _LIBC is not None:
            _LIBC.prctl(_PR_SET_PDEATHSIG, kill, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return preexec


def marked(mark: str) -> list[psutil.Process]:
    """Every live process of this user whose environment carries `MARK_ENV=mark`."""
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.pid != os.getpid() and proc.environ().get(MARK_ENV) == mark and _alive(proc):
                found.append(proc)
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct free ports, all held open until every one is chosen."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            socks.append(sock)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for sock in socks:
            sock.close()


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(port: int, timeout_s: float, host: str = "127.0.0.1") -> bool:
    """Wait until ``host:port`` accepts connections; False after ``timeout_s``."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if port_open(port, host):
            return True
        time.sleep(0.1)
    return False


@dataclass
class Started:
    """One process we started: its name, handle and log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]

    @property
    def pid(self) -> int:
        return self.popen.pid


@dataclass
class ProcessSet:
    """The processes of one deployment, with everything they spawned."""

    log_dir: Path
    started: list[Started] = field(default_factory=list)
    seen: dict[int, psutil.Process] = field(default_factory=dict)
    mark: str = field(default_factory=lambda: uuid.uuid4().hex)
    reaper: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def _start_reaper(self) -> None:
        """The set's reaper (`fl_engine.flower.reaper`): it ends the marked processes once this
        process closes the pipe or dies. Its own session, no mark, no death signal."""
        env = {k: v for k, v in os.environ.items() if k != MARK_ENV}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_REPO), env.get("PYTHONPATH")]))
        self.reaper = subprocess.Popen(
            [sys.executable, "-m", "fl_engine.flower.reaper", self.mark],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )

    def start(
        self, name: str, argv: Sequence[str], env: Mapping[str, str], cwd: Path | None = None
    ) -> Started:
        """Start ``argv`` in a new session, marked and dying with this process, with its
        output in ``log_dir/name.log``."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if self.reaper is None:
            self._start_reaper()
        log_path = self.log_dir / f"{name}.log"
        log_file = log_path.open("ab")
        popen = subprocess.Popen(
            list(argv),
            env={**env, MARK_ENV: self.mark},
            cwd=str(cwd) if cwd else None,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent(),  # prctl and getppid only
        )
        item = Started(name, popen, log_path, log_file)
        self.started.append(item)
        self.scan()
        return item

    def get(self, name: str) -> Started:
        """The started process called ``name`` (the latest, where one was started again)."""
        for item in reversed(self.started):
            if item.name == name:
                return item
        raise KeyError(name)

    def scan(self) -> list[psutil.Process]:
        """Record every live descendant of the started processes; return them all."""
        # One pass over /proc for all of them (`children(recursive=True)` per started process
        # read every process's parent again each time: ~18 passes a round on a loaded machine).
        started = {item.pid for item in self.started}
        children: dict[int, list[psutil.Process]] = {}
        stack: list[psutil.Process] = []
        for proc in psutil.process_iter(["ppid"]):
            children.setdefault(proc.info["ppid"], []).append(proc)
            if proc.pid in started:
                stack.append(proc)
        visited: set[int] = set()
        while stack:
            proc = stack.pop()
            if proc.pid in visited:
                continue
            visited.add(proc.pid)
            self.seen.setdefault(proc.pid, proc)
            stack.extend(children.get(proc.pid, []))
        return [p for p in self.seen.values() if _alive(p)]

    def rss_bytes(self) -> int:
        """Resident memory summed over every live process of the deployment."""
        total = 0
        for proc in self.scan():
            try:
                total += int(proc.memory_info().rss)
            except psutil.Error:
                continue
        return total

    def kill_tree(self, name: str) -> None:
        """SIGKILL one started process and everything below it (a fault, on purpose)."""
        item = self.get(name)
        try:
            family = [psutil.Process(item.pid), *psutil.Process(item.pid).children(True)]
        except psutil.Error:
            family = []
        _signal_group(item.pid, signal.SIGKILL)
        for proc in family:
            _send(proc, signal.SIGKILL)
        item.popen.wait(timeout=10)

    def stop_all(self, grace_s: float = 5.0) -> None:
        """SIGTERM every group, wait ``grace_s``, then SIGKILL all that is left, marked ones
        that left the tree included."""
        self.scan()
        for item in reversed(self.started):
            if item.popen.poll() is None:
                _signal_group(item.pid, signal.SIGTERM)
        end = time.monotonic() + grace_s
        while time.monotonic() < end and self._any_alive():
            time.sleep(0.1)
            self.scan()
        for _ in range(3):
            for item in self.started:
                _signal_group(item.pid, signal.SIGKILL)
            for proc in self.scan():
                _send(proc, signal.SIGKILL)
            for proc in marked(self.mark):
                self.seen.setdefault(proc.pid, proc)
                _send(proc, signal.SIGKILL)
            psutil.wait_procs(list(self.seen.values()), timeout=3)
            if not self._any_alive():
                break
        for item in self.started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                item.popen.wait(timeout=1)
            item.log_file.close()
        self._stop_reaper()

    def _stop_reaper(self) -> None:
        """Close the reaper's pipe: it sweeps once more (nothing left, normally) and exits on
        its own within a second; no wait here (`subprocess` collects it later)."""
        reaper, self.reaper = self.reaper, None
        if reaper is not None and reaper.stdin is not None:
            reaper.stdin.close()

    def _any_alive(self) -> bool:
        if any(item.popen.poll() is None for item in self.started):
            return True
        return any(_alive(p) for p in self.seen.values())

    def alive_pids(self) -> list[int]:
        """PIDs of processes of this deployment that still run."""
        self.scan()
        return sorted(p.pid for p in self.seen.values() if _alive(p))


def _alive(proc: psutil.Process) -> bool:
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _send(proc: psutil.Process, sig: signal.Signals) -> None:
    try:
        if proc.is_running():
            proc.send_signal(sig)
    except psutil.Error:
        pass


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)

"""`tycoon federate superlink|supernode`: the federation's Flower pieces on separate machines.

`superlink` runs `flower-superlink` (TLS with --certfile/--keyfile/--ca-certfile, optional
`--enable-supernode-auth`); `supernode` runs `flower-supernode` for one factory's partition
with `--isolation process` and the project's long-lived ClientApp executor beside it
(`fl_engine.flower.warm_clientapp`), TLS via `--root-certificates`, node authentication via
`--auth-key` (the private key whose public half was registered with `flwr supernode register`).
Flags are passed through to Flower; missing files are one-line errors. The recipe (certificates
with openssl, the commands on each machine, `flwr run`) is in docs/flower.md.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import app, fail

federate_app = typer.Typer(
    no_args_is_help=True,
    help="Run the federation's Flower SuperLink or one SuperNode (see docs/flower.md).",
)
app.add_typer(federate_app, name="federate")

QUIET = {"FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1", "OMP_NUM_THREADS": "1"}

CertOpt = Annotated[Path | None, typer.Option(help="Server TLS certificate (PEM).")]
KeyOpt = Annotated[Path | None, typer.Option(help="Server TLS private key (PEM).")]
CaOpt = Annotated[Path | None, typer.Option(help="CA certificate that signed the server's.")]
InsecureOpt = Annotated[
    bool, typer.Option("--insecure", help="No TLS (loopback or a trusted network only).")
]


def need_file(flag: str, path: Path | None) -> str:
    """`path` as a string; a one-line error when it is not given or not a file."""
    if path is None:
        fail(f"{flag} is required unless --insecure is given")
    if not path.is_file():
        fail(f"{flag}: no such file: {path}")
    return str(path)


def tool(name: str) -> str:
    """A Flower command next to this Python (the venv's bin), else on PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else name


def superlink_argv(
    host: str,
    port: int,
    insecure: bool,
    certfile: Path | None,
    keyfile: Path | None,
    ca_certfile: Path | None,
    enable_supernode_auth: bool,
    database: Path | None,
) -> list[str]:
    """The `flower-superlink` command line these options give."""
    argv = [tool("flower-superlink"), "--host", host, "--port", str(port)]
    argv.append("--disable-runtime-dependency-installation")
    if insecure:
        if enable_supernode_auth:
            fail("--enable-supernode-auth needs TLS: give --certfile/--keyfile/--ca-certfile")
        argv.append("--insecure")
    else:
        argv += ["--ssl-certfile", need_file("--certfile", certfile)]
        argv += ["--ssl-keyfile", need_file("--keyfile", keyfile)]
        argv += ["--ssl-ca-certfile", need_file("--ca-certfile", ca_certfile)]
    if enable_supernode_auth:
        argv.append("--enable-supernode-auth")
    if database is not None:
        argv += ["--database", str(database)]
    return argv


@federate_app.command("superlink")
def superlink(
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: all).")] = "0.0.0.0",
    port: Annotated[int, typer.Option(help="Fleet, Control and ServerApp API port.")] = 9092,
    insecure: InsecureOpt = False,
    certfile: CertOpt = None,
    keyfile: KeyOpt = None,
    ca_certfile: CaOpt = None,
    enable_supernode_auth: Annotated[
        bool, typer.Option(help="Admit only SuperNodes registered with `flwr supernode register`.")
    ] = False,
    database: Annotated[Path | None, typer.Option(help="State database (default: memory).")] = None,
) -> None:
    """Run the SuperLink (the federation's server) in the foreground."""
    argv = superlink_argv(
        host, port, insecure, certfile, keyfile, ca_certfile, enable_supernode_auth, database
    )
    os.execve(argv[0] if os.path.isabs(argv[0]) else _which(argv[0]), argv, _env())


def supernode_argv(
    superlink_address: str,
    port: int,
    node_config: str,
    insecure: bool,
    root_certificates: Path | None,
    auth_key: Path | None,
) -> list[str]:
    """The `flower-supernode` command line (process isolation) these options give."""
    argv = [tool("flower-supernode"), "--superlink", superlink_address]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--isolation", "process"]
    argv += ["--node-config", node_config]
    if insecure:
        if auth_key is not None:
            fail("--auth-key needs TLS: give --root-certificates instead of --insecure")
        argv.append("--insecure")
    else:
        argv += ["--root-certificates", need_file("--root-certificates", root_certificates)]
    if auth_key is not None:
        argv += ["--auth-supernode-private-key", need_file("--auth-key", auth_key)]
    return argv


@federate_app.command("supernode")
def supernode(
    superlink_address: Annotated[
        str, typer.Option("--superlink", help="The SuperLink's HOST:PORT.")
    ],
    partition_id: Annotated[int, typer.Option(help="This factory's partition (0-based).")],
    num_partitions: Annotated[int, typer.Option(help="Number of factories in the federation.")],
    data_dir: Annotated[
        Path | None, typer.Option(help="This site's C-MAPSS files (default: the embedded set).")
    ] = None,
    port: Annotated[int, typer.Option(help="Local Runtime API port (one per SuperNode).")] = 9094,
    insecure: InsecureOpt = False,
    root_certificates: Annotated[
        Path | None, typer.Option(help="CA certificate to verify the SuperLink (PEM).")
    ] = None,
    auth_key: Annotated[
        Path | None, typer.Option(help="SuperNode private key for node authentication.")
    ] = None,
) -> None:
    """Run one SuperNode and its long-lived ClientApp executor until Ctrl-C."""
    if not 0 <= partition_id < num_partitions:
        fail(f"--partition-id must be in [0, {num_partitions}), got {partition_id}")
    if data_dir is not None and not data_dir.is_dir():
        fail(f"--data-dir: no such directory: {data_dir}")
    data = str(data_dir.resolve()) if data_dir else ""
    config = f'partition-id={partition_id} num-partitions={num_partitions} data-dir="{data}"'
    argv = supernode_argv(superlink_address, port, config, insecure, root_certificates, auth_key)
    executor = [sys.executable, "-m", "fl_engine.flower.warm_clientapp"]
    executor += ["--runtime-api-address", f"127.0.0.1:{port}", "--insecure"]
    _run_pair(argv, executor)


def _run_pair(node_argv: list[str], executor_argv: list[str]) -> None:
    """SuperNode and executor as children; both stopped on Ctrl-C or when one exits."""
    import tempfile
    import time

    from fl_engine.flower.processes import ProcessSet

    procs = ProcessSet(Path(tempfile.mkdtemp(prefix="tycoon-supernode-")))
    env = _env()
    try:
        node = procs.start("supernode", node_argv, env)
        runner = procs.start("executor", [*executor_argv, "--parent-pid", str(node.pid)], env)
        typer.echo(f"SuperNode pid {node.pid}, executor pid {runner.pid}; logs in {procs.log_dir}")
        while node.popen.poll() is None and runner.popen.poll() is None:
            time.sleep(0.5)
        typer.echo(f"stopped: see {procs.log_dir}", err=True)
        raise typer.Exit(1)
    except KeyboardInterrupt:
        typer.echo("stopping", err=True)
    finally:
        procs.stop_all()


def _env() -> dict[str, str]:
    env = {**os.environ, **QUIET}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _which(name: str) -> str:
    import shutil

    found = shutil.which(name)
    if found is None:
        fail(f"{name} not found: install the [flower] extra (pip install -e '.[flower]')")
    return found

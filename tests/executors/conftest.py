"""A real local Ray cluster for the Ray executor's tests.

`ray start --head` on 127.0.0.1 at free ports, with its own temporary folder, started once per
session; `RayCluster.add_node()` starts a second node (`ray start --address`). Every process is
stopped by the PIDs this fixture started (the `ray start --block` process and its children),
never with `ray stop`, which would end every Ray process on the machine. Without Ray the tests
skip, except under CI=true, where they fail: `make test` installs Ray (the dev extra).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import shoal

#: Set before Ray is imported in this process too: Ray then keeps 127.0.0.1 as given instead of
#: turning it into the machine's address, where the cluster does not listen.
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled",
           "RAY_USAGE_STATS_ENABLED": "0"}

os.environ.update(RAY_ENV)  # at collection, before any test imports Ray


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    """`pid` and every process below it, read from /proc."""
    parent_of: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError), open(f"/proc/{entry}/stat") as f:
                parent_of[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
    found = [pid]
    for parent in found:  # grows while it is walked: breadth first
        found.extend(child for child, ppid in parent_of.items() if ppid == parent)
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def ray_env() -> dict[str, str]:
    """The environment of a Ray process or a driver subprocess: shoal importable by absolute path."""
    src = str(Path(shoal.__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, **RAY_ENV, "PYTHONPATH": os.pathsep.join(p for p in (src, path) if p)}


@dataclass
class _Node:
    process: subprocess.Popen[bytes]
    log: Path
    pids: list[int] = field(default_factory=list)

    def remember(self) -> None:
        self.pids = sorted(set(self.pids) | set(_children(self.process.pid)))

    def raylet(self) -> int:
        """The PID of this node's raylet."""
        self.remember()
        for pid in self.pids:
            with contextlib.suppress(OSError):
                if "raylet" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode():
                    return pid
        raise AssertionError(f"no raylet among {self.pids}:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.remember()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # `ray start --block` ends its own processes
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=20)
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in self.pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in self.pids:  # anything left: by the PIDs this fixture started, never `ray stop`
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait(timeout=10)


@dataclass
class RayCluster:
    """A local Ray cluster started for the tests: `address` is its head's HOST:PORT."""

    address: str
    folder: Path
    nodes: list[_Node]

    def env(self) -> dict[str, str]:
        """The environment for a driver subprocess of this cluster."""
        return ray_env()

    def add_node(self, *, num_cpus: int, env: dict[str, str] | None = None) -> _Node:
        """Start one more node joined to the head; its Ray workers see `env`.

        `ray start --address` refuses to run with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, and with 1
        it rewrites '127.0.0.1' and 'localhost' into the machine's address, where the head does
        not listen; 'LOCALHOST' is the same host to the resolver, and Ray leaves it alone.
        """
        port = self.address.rpartition(":")[2]
        node = _start(self.folder, ["--address", f"LOCALHOST:{port}", "--num-cpus", str(num_cpus)],
                      f"node{len(self.nodes)}", {**(env or {}), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1"})
        self.nodes.append(node)
        return node


def _start(folder: Path, args: list[str], name: str, env: dict[str, str] | None = None) -> _Node:
    ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
    log = folder / f"{name}.log"
    ports = ["--dashboard-agent-listen-port", "--dashboard-agent-grpc-port", "--runtime-env-agent-port",
             "--metrics-export-port"]
    command = [ray, "start", "--block", "--node-ip-address", "127.0.0.1", "--disable-usage-stats",
               "--object-store-memory", str(80 * 1024 ** 2), *args,
               *[part for flag in ports for part in (flag, str(_free_port()))]]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, env={**ray_env(), **(env or {})}, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)  # a terminal's Ctrl-C is for the tests
    return _Node(process, log)


def _wait_for_port(port: int, node: _Node, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        if node.process.poll() is not None or time.monotonic() > deadline:
            node.stop()
            pytest.fail(f"ray start --head did not come up:\n{node.log.read_text()[-3000:]}",
                        pytrace=False)
        time.sleep(0.2)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """A head node with 2 CPUs on 127.0.0.1 (shared by the session), and any nodes a test adds."""
    if importlib.util.find_spec("ray") is None:
        message = "Ray is not installed: pip install -e '.[dev]' (or 'shoal[ray]'), or run `make test`."
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    folder = Path(tempfile.mkdtemp(prefix="shoal-ray-", dir="/tmp"))  # Ray's socket paths must be short
    port = _free_port()
    head = _start(folder, ["--head", "--port", str(port), "--num-cpus", "2", "--include-dashboard",
                           "false", "--temp-dir", str(folder / "t")], "head")
    cluster = RayCluster(f"127.0.0.1:{port}", folder, [head])
    try:
        _wait_for_port(port, head)
        head.remember()
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            import ray

            ray.shutdown()
        for node in reversed(cluster.nodes):
            node.stop()
        shutil.rmtree(folder, ignore_errors=True)

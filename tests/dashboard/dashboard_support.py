"""Helpers of the dashboard tests: studies written through storage, a live uvicorn server.

A module of its own (not conftest.py): test modules import it by a name no other tests folder uses.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shoal.dashboard import create_app
from shoal.dashboard._serve import bind
from shoal.space import Categorical, Float, Int, Param
from shoal.storage import Storage, StorageReader
from shoal.trial import Direction, FrozenTrial, TrialState

with warnings.catch_warnings():  # starlette asks for `httpx2`; the tests use the installed httpx
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

__all__ = ["HOSTILE", "LiveServer", "TestClient", "add_trial", "quadratic_study", "start_server"]

HOSTILE = "<img src=x onerror=window.__xss=1>"


def add_trial(storage: Storage, study_id: int, *, params: Mapping[str, Any],
              values: Sequence[float] | None = None, state: TrialState = TrialState.COMPLETE,
              intermediate: Mapping[int, float] | None = None, user_attrs: Mapping[str, Any] | None = None,
              system_attrs: Mapping[str, Any] | None = None, parent: int | None = None,
              lineage: Sequence[Mapping[str, Any]] = (),
              distributions: Mapping[str, Param] | None = None) -> FrozenTrial:
    """Write one trial as a worker would: create it RUNNING, report, finish (unless RUNNING)."""
    trial = storage.create_trial(study_id, params=params, distributions=distributions, parent=parent,
                                 lineage=lineage, worker="test")
    if intermediate or user_attrs:
        storage.update_trial(trial.trial_id, intermediate=intermediate, user_attrs=user_attrs)
    if state is not TrialState.RUNNING:
        storage.finish_trial(trial.trial_id, state=state, values=values, system_attrs=system_attrs)
    return trial


def quadratic_study(storage: Storage, name: str, n: int, *, objective_names: Sequence[str] | None = None,
                    param_value: str = "relu", user_attr: str = "note") -> int:
    """A study of `n` trials of (x - 1)^2 with three parameters, 5 reports each, trial 3 FAILED with
    a traceback and trial 4 forked from trial 2. Returns the study id."""
    system = {"objective_names": list(objective_names)} if objective_names else None
    space = {"x": Float(-2.0, 2.0), "units": Int(16, 64, step=16), "act": Categorical([param_value, "tanh"])}
    study_id = storage.create_study(name, [Direction.MINIMIZE], system_attrs=system).study_id
    for i in range(n):
        x = -2.0 + 4.0 * i / max(n - 1, 1)
        params = {"x": x, "units": 16 * (1 + i % 4), "act": param_value if i % 2 else "tanh"}
        curve = {s: (x - 1) ** 2 + 1.0 / (s + 1) for s in range(5)}
        if i == 3:
            add_trial(storage, study_id, params=params, distributions=space, state=TrialState.FAILED,
                      intermediate=curve,
                      system_attrs={"fail_reason": "diverged", "traceback": "Traceback: boom\n<b>x</b>"})
            continue
        fork = [{"event": "forked", "parent": 2, "step": 2, "changed": {"x": [0.0, x]}, "at": 1.0}]
        add_trial(storage, study_id, params=params, distributions=space, values=[(x - 1) ** 2],
                  intermediate=curve,
                  user_attrs={"note": user_attr}, parent=2 if i == 4 else None,
                  lineage=fork if i == 4 else ())
    return study_id

@dataclass
class LiveServer:
    """A dashboard served by uvicorn in a thread, on 127.0.0.1 at a free port."""

    base: str
    server: Any
    thread: threading.Thread
    reader_url: str

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_server(reader: StorageReader, *, token: str | None = None, poll_s: float = 0.25) -> LiveServer:
    import uvicorn

    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(create_app(reader, token=token, poll_s=poll_s),
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "uvicorn did not start within 10 s"
    return LiveServer(f"http://127.0.0.1:{sock.getsockname()[1]}", server, thread, reader.url)

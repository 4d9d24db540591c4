#!/usr/bin/env python
"""Throughput of shoal's workers beside Optuna's and Ray Tune's, measured in the same run.

1. Trivial trials (x from [-10, 10], value (x - 2)^2, no sleep): trials per second with 1, 2, 4
   and 8 workers, random search everywhere,
   - on SQLite and on PostgreSQL: shoal `study.optimize(n_trials=T, n_jobs=W)` against Optuna 5.0's
     RDB storage on the same database server, W forked processes each running
     `optuna.load_study(...).optimize(n_trials=T/W)` (one worker: `optimize` in the driver);
   - on one local Ray cluster: shoal `study.optimize(n_trials=T, n_jobs=W,
     executor=RayExecutor(address=..., resources=Resources(cpus=1)))` (storage: PostgreSQL, else
     SQLite) against Ray Tune, `tune.Tuner(trainable, num_samples=T, max_concurrent_trials=W)` with
     a function trainable asking one CPU, on the same cluster.
2. Scaling: an objective that sleeps 1 s, with 1 and 2 workers: efficiency = ideal wall time
   (ceil(T/W) seconds) / measured wall time, for shoal and its peer on SQLite (and on Ray).

Every run is a fresh driver process (imports and connecting are not timed; starting worker
processes is), on a fresh SQLite file or PostgreSQL database; afterwards every trial is read back:
numbers 0..T-1 exactly once and all COMPLETE (Ray Tune: T results, none with an error).

Run: .venv/bin/python benchmarks/bench_throughput.py [--quick] [--workers 1 2 4 8] [--trials T]
     [--backends sqlite postgresql ray] [--frameworks shoal optuna ray-tune] [--skip-scaling] [--out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import glob
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET_RAY_RATIO = 10.0  # shoal on Ray: at least 10x Ray Tune's trials per second
TARGET_EFFICIENCY = 0.90  # a 1-second objective with 2 workers on 2 cores: >= 90 % of ideal
STUDY = "throughput"
PEERS = {"sqlite": "optuna", "postgresql": "optuna", "ray": "ray-tune"}
TUNE_HINT = "Ray Tune is missing: pip install 'ray[tune]==2.60.0' pydantic into this virtualenv."


def objective(trial: Any) -> float:
    """The trivial objective, for shoal and Optuna alike."""
    x = trial.suggest_float("x", -10.0, 10.0)
    return (x - 2.0) ** 2


@dataclass(frozen=True)
class Sleepy:
    """The objective after a sleep (the scaling runs' 1-second 'training')."""

    seconds: float

    def __call__(self, trial: Any) -> float:
        value = objective(trial)
        time.sleep(self.seconds)
        return value


@dataclass
class Row:
    """One measurement: a framework on a storage or cluster with W workers."""

    backend: str
    framework: str
    workers: int
    trials: int
    sleep_s: float = 0.0
    wall_s: float = float("nan")
    complete: int = 0
    problems: list[str] = field(default_factory=list)
    load: float = 0.0  # 1-minute load average when the run started

    @property
    def per_second(self) -> float:
        return self.complete / self.wall_s if self.wall_s > 0 else float("nan")

    @property
    def ideal_s(self) -> float:
        return ideal_seconds(self.trials, self.workers, self.sleep_s)

    @property
    def efficiency(self) -> float:
        return self.ideal_s / self.wall_s if self.wall_s > 0 else float("nan")


def ideal_seconds(trials: int, workers: int, sleep_s: float) -> float:
    """The shortest wall time of `trials` sleeps of `sleep_s` on `workers` workers."""
    return math.ceil(trials / workers) * sleep_s


def check_numbers(numbers: list[int], states: list[str], trials: int) -> list[str]:
    """What is wrong with a finished run's trials: numbers 0..trials-1 once each, all COMPLETE."""
    problems = []
    if sorted(numbers) != list(range(trials)):
        seen = Counter(numbers)
        missing = sum(1 for n in range(trials) if n not in seen)
        duplicated = sum(c - 1 for c in seen.values() if c > 1)
        extra = sum(1 for n in seen if not 0 <= n < trials)
        problems.append(f"{len(numbers)} trials for numbers 0..{trials - 1}: {missing} missing, "
                        f"{duplicated} duplicated, {extra} out of range")
    wrong = Counter(s for s in states if s != "COMPLETE")
    if wrong:
        problems.append(f"not COMPLETE: {dict(wrong)}")
    return problems


# Drivers: each measurement runs in a fresh process (`--driver SPEC`) -----------------------------
def drive_shoal(spec: dict[str, Any]) -> dict[str, Any]:
    import logging

    import shoal

    logging.getLogger("shoal").setLevel(logging.WARNING)
    study = shoal.create_study(STUDY, storage=spec["url"], sampler=shoal.samplers.RandomSampler(seed=0))
    executor = None
    if spec["backend"] == "ray":
        try:
            from shoal.executors import RayExecutor, Resources
        except ImportError:
            return {"problems": ["shoal.executors has no RayExecutor on this commit"]}
        executor = RayExecutor(address=spec["address"], resources=Resources(cpus=1))
    fn = Sleepy(spec["sleep_s"]) if spec["sleep_s"] > 0 else objective
    start = time.perf_counter()
    study.optimize(fn, n_trials=spec["trials"], n_jobs=spec["workers"], executor=executor)
    wall = time.perf_counter() - start
    trials = shoal.load_study(STUDY, storage=spec["url"]).trials
    return {"wall_s": wall, "complete": sum(t.state.name == "COMPLETE" for t in trials),
            "problems": check_numbers([t.number for t in trials], [t.state.name for t in trials],
                                      spec["trials"])}


def _optuna_worker(url: str, index: int, n_trials: int, sleep_s: float) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.RandomSampler(seed=index)
    study = optuna.load_study(study_name=STUDY, storage=url, sampler=sampler)
    study.optimize(Sleepy(sleep_s) if sleep_s > 0 else objective, n_trials=n_trials)


def drive_optuna(spec: dict[str, Any]) -> dict[str, Any]:
    import multiprocessing as mp

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = spec["url"].replace("postgresql://", "postgresql+psycopg://", 1)  # the driver shoal uses
    storage = optuna.storages.RDBStorage(url)
    optuna.create_study(study_name=STUDY, storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))
    storage.engine.dispose()  # no pooled connection crosses the fork
    workers, total, problems = spec["workers"], spec["trials"], []
    shares = [total // workers + (i < total % workers) for i in range(workers)]
    start = time.perf_counter()
    if workers == 1:
        _optuna_worker(url, 0, total, spec["sleep_s"])
    else:
        ctx = mp.get_context("fork")
        procs = [ctx.Process(target=_optuna_worker, args=(url, i, shares[i], spec["sleep_s"]))
                 for i in range(workers)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        problems += [f"worker exit code {p.exitcode}" for p in procs if p.exitcode != 0]
    wall = time.perf_counter() - start
    trials = optuna.load_study(study_name=STUDY, storage=url).trials
    states = [t.state.name for t in trials]
    return {"wall_s": wall, "complete": states.count("COMPLETE"),
            "problems": problems + check_numbers([t.number for t in trials], states, total)}


def drive_tune(spec: dict[str, Any]) -> dict[str, Any]:
    import logging

    try:
        import ray
        from ray import tune
    except ImportError:
        return {"problems": [TUNE_HINT]}

    sleep_s = float(spec["sleep_s"])

    def trainable(config: dict[str, float]) -> dict[str, float]:
        if sleep_s > 0:
            time.sleep(sleep_s)
        return {"value": (config["x"] - 2.0) ** 2}

    ray.init(address=spec["address"], logging_level=logging.ERROR, log_to_driver=False)
    with tempfile.TemporaryDirectory(prefix="shoal-tune-") as folder:
        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": 1}), param_space={"x": tune.uniform(-10.0, 10.0)},
            tune_config=tune.TuneConfig(num_samples=spec["trials"], max_concurrent_trials=spec["workers"],
                                        metric="value", mode="min"),
            run_config=tune.RunConfig(name=STUDY, storage_path=folder, verbose=0))
        start = time.perf_counter()
        results = tuner.fit()
        wall = time.perf_counter() - start
    complete = sum(1 for r in results if r.error is None and "value" in r.metrics)
    problems = [f"{len(results)} results for {spec['trials']} trials"] * (len(results) != spec["trials"])
    if results.num_errors:
        problems.append(f"{results.num_errors} trials with an error")
    return {"wall_s": wall, "complete": complete, "problems": problems}


DRIVERS = {"shoal": drive_shoal, "optuna": drive_optuna, "ray-tune": drive_tune}


def ray_env() -> dict[str, str]:
    """The environment of drivers and Ray's nodes: this checkout's shoal, Ray on 127.0.0.1 only."""
    path = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    # Without RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 a driver swaps 127.0.0.1 for the machine's address.
    return {**os.environ, "PYTHONPATH": path, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            "RAY_AUTH_MODE": "disabled"}


def run_driver(spec: dict[str, Any], *, timeout: float) -> dict[str, Any]:
    """Run one measurement in a fresh Python process; its result comes back through a file."""
    with tempfile.TemporaryDirectory(prefix="shoal-tp-") as folder:
        result_file = Path(folder) / "result.json"
        env = ray_env()
        argv = [sys.executable, str(Path(__file__).resolve()), "--driver",
                json.dumps({**spec, "result": str(result_file)})]
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the driver and the workers it forked
            proc.communicate()
            return {"problems": [f"timed out after {timeout:g} s"]}
        if result_file.exists():
            return dict(json.loads(result_file.read_text()))
        tail = (stderr.strip().splitlines() or ["no output"])[-1]
        return {"problems": [f"driver exited {proc.returncode}: {tail[:300]}"]}


def driver_main(spec_json: str) -> None:
    spec = json.loads(spec_json)
    try:
        result = DRIVERS[spec["framework"]](spec)
    except Exception as err:
        result = {"problems": [f"{type(err).__name__}: {str(err)[:300]}"]}
    Path(spec["result"]).write_text(json.dumps(result))


# Servers: a throwaway PostgreSQL and a local Ray cluster, both stopped by the PIDs started ---------
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_bin() -> Path | None:
    found = shutil.which("initdb")
    folders = [Path(found).parent] if found else []
    folders += [Path(p).parent for p in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)]
    return next((f for f in folders if (f / "pg_ctl").exists()), None)


def _as_postgres(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []  # initdb refuses root
    return subprocess.run(prefix + argv, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Admin URL of a PostgreSQL server on 127.0.0.1 started as tests/conftest.py starts it."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL's initdb and pg_ctl are missing: apt-get install -y postgresql.")
    root = Path(tempfile.mkdtemp(prefix="shoal-tp-pg-"))
    if os.geteuid() == 0:
        import pwd

        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
    data, port, started = root / "data", _free_port(), False
    try:
        init = _as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                             "-E", "UTF8", "--no-locale", "--no-sync"], root)
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stderr.strip()[-300:]}")
        options = f"-h 127.0.0.1 -p {port} -k {root} -c max_connections=200"
        start = _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"),
                              "-w", "-t", "60", "-o", options, "start"], root)
        started = start.returncode == 0
        if not started:
            raise RuntimeError(f"pg_ctl start failed: {start.stderr.strip()[-300:]}")
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if started:
            _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], root)
        shutil.rmtree(root, ignore_errors=True)


def new_database(admin_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


@contextlib.contextmanager
def ray_cluster(num_cpus: int) -> Iterator[str]:
    """Address of a one-node Ray cluster (`ray start --head --block`), stopped by its PID."""
    temp = Path(tempfile.mkdtemp(prefix="shoal-tp-ray-"))  # own session folder: never another's cluster
    port = _free_port()
    env = ray_env()
    argv = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--port", str(port),
            "--node-ip-address", "127.0.0.1", "--num-cpus", str(num_cpus), "--include-dashboard", "false",
            "--disable-usage-stats", "--temp-dir", str(temp), "--block"]
    with open(temp / "ray-start.log", "w") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (temp / "ray_current_cluster").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (temp / "ray-start.log").read_text().strip().splitlines()[-1:] or ["no output"]
                raise RuntimeError(f"ray start failed: {tail[0][:300]}")
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)  # `ray start --block` stops the processes it started
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(temp, ignore_errors=True)


# Orchestration -------------------------------------------------------------------------------------
class Places:
    """Fresh storage for each run: SQLite files in one folder, databases on one PostgreSQL server."""

    def __init__(self, folder: Path, pg_admin: str | None, ray_address: str | None) -> None:
        self.folder, self.pg_admin, self.ray_address = folder, pg_admin, ray_address
        self.count = 0

    def url(self, backend: str) -> str:
        self.count += 1
        if backend == "postgresql" or (backend == "ray" and self.pg_admin is not None):
            assert self.pg_admin is not None
            return new_database(self.pg_admin, f"tp_{self.count}")
        return f"sqlite:///{self.folder / f'run{self.count}.db'}"


def measure(places: Places, *, backend: str, framework: str, workers: int, trials: int,
            sleep_s: float = 0.0) -> Row:
    row = Row(backend, framework, workers, trials, sleep_s, load=os.getloadavg()[0])
    spec = {"backend": backend, "framework": framework, "workers": workers, "trials": trials,
            "sleep_s": sleep_s, "address": places.ray_address,
            "url": None if framework == "ray-tune" else places.url(backend)}
    timeout = 120 + trials * (sleep_s + 1.0) * 3  # Ray Tune took ~2 s a trial on a busy 2-core machine
    result = run_driver(spec, timeout=timeout)
    row.wall_s = float(result.get("wall_s", float("nan")))
    row.complete = int(result.get("complete", 0))
    row.problems = list(result.get("problems", []))
    return row


def say(line: str) -> None:
    print(f"bench_throughput: {line}", file=sys.stderr, flush=True)


def fmt(value: float, spec: str = ".1f") -> str:
    return "-" if math.isnan(value) else format(value, spec)


def throughput_table(rows: list[Row], trials: int) -> str:
    out = [f"### Trivial objective: trials per second ({trials} trials per run, higher is better)", "",
           "| storage / cluster | workers | shoal | Optuna | Ray Tune | shoal / peer | trial check |",
           "|---|---:|---:|---:|---:|---:|---|"]
    cells = {(r.backend, r.framework, r.workers): r for r in rows if r.sleep_s == 0}
    ratios: dict[int, float] = {}
    for backend, workers in dict.fromkeys((r.backend, r.workers) for r in rows if r.sleep_s == 0):
        got = {fw: cells.get((backend, fw, workers)) for fw in ("shoal", "optuna", "ray-tune")}
        rate = {fw: r.per_second if r is not None and r.complete else float("nan") for fw, r in got.items()}
        ratio = rate["shoal"] / rate[PEERS[backend]]
        if backend == "ray":
            ratios[workers] = ratio
        problems = [f"{fw}: {'; '.join(r.problems)}" for fw, r in got.items() if r is not None and r.problems]
        out.append(f"| {backend} | {workers} | {fmt(rate['shoal'])} | {fmt(rate['optuna'])} | "
                   f"{fmt(rate['ray-tune'])} | {fmt(ratio, '.2f')} | {'; '.join(problems) or 'ok'} |")
    if ratios:
        measured = [r for r in ratios.values() if not math.isnan(r)]
        met = len(measured) == len(ratios) and min(measured) >= TARGET_RAY_RATIO
        verdict = "not measured" if not measured else "met" if met else "**MISSED**"
        out += ["", f"Target on Ray: shoal ≥ {TARGET_RAY_RATIO:g} times Ray Tune's trials per second "
                f"at every worker count: {verdict}."]
    return "\n".join(out)


def scaling_table(rows: list[Row]) -> str:
    scaling = [r for r in rows if r.sleep_s > 0]
    out = [f"### Scaling: an objective of {scaling[0].sleep_s:g} s (efficiency = ideal / measured wall)",
           "", "| storage / cluster | framework | workers | trials | wall s | ideal s | efficiency | check |",
           "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in scaling:
        out.append(f"| {r.backend} | {r.framework} | {r.workers} | {r.trials} | {fmt(r.wall_s, '.2f')} | "
                   f"{r.ideal_s:.1f} | {fmt(100 * r.efficiency, '.0f')} % | "
                   f"{'; '.join(r.problems) or 'ok'} |")
    verdicts = []
    for r in scaling:
        if r.framework == "shoal" and r.workers == 2:
            verdict = "met" if r.efficiency >= TARGET_EFFICIENCY and not r.problems else "**MISSED**"
            verdicts.append(f"{r.backend} {fmt(100 * r.efficiency, '.0f')} %: {verdict}")
    if verdicts:
        out += ["", f"Target: shoal with 2 workers ≥ {100 * TARGET_EFFICIENCY:.0f} % of ideal: "
                f"{'; '.join(verdicts)}."]
    return "\n".join(out)


def commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False)
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("shoal", "optuna", "ray", "sqlalchemy", "psycopg"):
        with contextlib.suppress(PackageNotFoundError):
            found[name] = version(name)
    return found


def run_all(args: argparse.Namespace, places: Places, results: dict[str, Any]) -> list[Row]:
    """Every run, shoal and its peer side by side: trivial trials, then the scaling runs."""
    frameworks = [fw for fw in ("shoal", "optuna", "ray-tune") if fw in args.frameworks]
    plan = [(backend, fw, workers, args.trials, 0.0) for backend in args.backends
            for workers in args.workers for fw in frameworks if fw in ("shoal", PEERS[backend])]
    if not args.skip_scaling:
        plan += [(backend, fw, workers, args.scaling_trials, args.sleep_s)
                 for backend in ("sqlite", "ray") if backend in args.backends
                 for workers in (1, 2) for fw in frameworks if fw in ("shoal", PEERS[backend])]
    rows: list[Row] = []
    for backend, fw, workers, trials, sleep_s in plan:
        say(f"{backend}, {fw}, {workers} workers, {trials} trials" + f" of {sleep_s:g} s" * (sleep_s > 0))
        rows.append(measure(places, backend=backend, framework=fw, workers=workers, trials=trials,
                            sleep_s=sleep_s))
        results["rows"] = [asdict(r) for r in rows]
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--trials", type=int, default=400, help="trials of each trivial-objective run")
    ap.add_argument("--backends", nargs="+", default=["sqlite", "postgresql", "ray"],
                    choices=["sqlite", "postgresql", "ray"])
    ap.add_argument("--frameworks", nargs="+", default=["shoal", "optuna", "ray-tune"],
                    choices=["shoal", "optuna", "ray-tune"])
    ap.add_argument("--scaling-trials", type=int, default=20, help="trials of each scaling run")
    ap.add_argument("--sleep-s", type=float, default=1.0, help="seconds the scaling objective sleeps")
    ap.add_argument("--skip-scaling", action="store_true")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 and 2 workers, 20 trials, 4 x 1 s")
    ap.add_argument("--out", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--driver", help=argparse.SUPPRESS)  # internal: run one measurement
    args = ap.parse_args(argv)
    if args.driver:
        driver_main(args.driver)
        return 0
    if args.quick:
        args.workers = [w for w in args.workers if w <= 2]
        args.trials, args.scaling_trials = min(args.trials, 20), min(args.scaling_trials, 4)
    now = datetime.datetime.now(datetime.timezone.utc)
    results: dict[str, Any] = {"when": now.isoformat(timespec="seconds"), "commit": commit(),
                               "machine": f"{platform.platform()}, {os.cpu_count()} cores",
                               "python": platform.python_version(), "versions": versions(),
                               "load_start": os.getloadavg(), "args": vars(args), "notes": [], "rows": []}
    rows: list[Row] = []
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="shoal-tp-")))
        pg_admin = ray_address = None
        if "postgresql" in args.backends or "ray" in args.backends:
            try:
                pg_admin = stack.enter_context(postgres_server())
            except RuntimeError as err:
                results["notes"].append(f"PostgreSQL not run: {err}")
                args.backends = [b for b in args.backends if b != "postgresql"]
        if "ray" in args.backends:
            try:
                ray_address = stack.enter_context(ray_cluster(max(args.workers)))
            except (RuntimeError, OSError) as err:
                results["notes"].append(f"Ray not run: {err}")
                args.backends = [b for b in args.backends if b != "ray"]
        rows = run_all(args, Places(folder, pg_admin, ray_address), results)
    results["load_end"] = os.getloadavg()
    print("## Throughput: shoal beside Optuna and Ray Tune\n")
    print(f"- commit {results['commit']}, {results['when']}, {results['machine']}, "
          f"Python {results['python']}")
    print(f"- versions: {', '.join(f'{k} {v}' for k, v in results['versions'].items())}")
    print("- load average (1/5/15 min) at start {:.2f} / {:.2f} / {:.2f}, at end {:.2f} / {:.2f} / {:.2f}; "
          "other work on the machine slows every framework alike\n".format(*results["load_start"],
                                                                        *results["load_end"]))
    if any(r.sleep_s == 0 for r in rows):
        print(throughput_table(rows, args.trials) + "\n")
    if any(r.sleep_s > 0 for r in rows):
        print(scaling_table(rows) + "\n")
    for note in results["notes"]:
        print(f"- {note}")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

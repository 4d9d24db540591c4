#!/usr/bin/env python
"""shoal's dashboard and report beside optuna-dashboard, on one large study, in the same run.

The study: 10,000 trials x 50 intermediate values (a log-float lr, a log-int batch size, a float
dropout, a categorical optimizer; 70 % complete, 25 % stopped at a rung, 5 % failed), written once
through shoal's storage into a SQLite file and once through Optuna's RDBStorage into another, both
cached under /tmp (keyed by size and seed). Then, for each tool, its server started on a free port
(shoal's with this interpreter, optuna-dashboard from its own virtualenv) and stopped by PID:
1. Study page: time from navigation in headless Chromium (Playwright) until the page is interactive
   with every plot drawn. shoal: `document.body.dataset.ready == "1"` on `/studies/{name}`.
   optuna-dashboard: on `/dashboard/studies/{id}`, its four plots (OPTUNA_PLOTS) each hold Plotly's
   SVG and a trace with data.
2. API response times (a cold first request, then p50/p95 over repeated requests) of each JSON route.
3. `shoal.reports.write_report` on the same study, in a fresh process.
benchmarks/README.md (section 14) says more; RESULTS.md has the figures.

Run: .venv/bin/python benchmarks/bench_dashboard.py [--quick] [--trials N] [--steps S] [--out FILE]
     [--repeats R] [--optuna-dashboard PATH]
optuna-dashboard is not one of shoal's dependencies: give it a virtualenv of its own,
`python3 -m venv /tmp/venv-od && /tmp/venv-od/bin/pip install optuna-dashboard optuna==5.0.0`,
and pass `--optuna-dashboard /tmp/venv-od/bin/optuna-dashboard` (or set $OPTUNA_DASHBOARD).
"""

from __future__ import annotations

import argparse
import datetime
import http.client
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

OPTIMIZERS = ("adam", "adamw", "sgd")
STUDY = "bench"
ROOT = Path(__file__).resolve().parents[1]
TARGET_PAGE_S = 2.0
TARGET_API_P95_MS = 300.0
TARGET_SPEEDUP = 5.0
TARGET_REPORT_S = 10.0
# What "every plot drawn" means on each study page, evaluated in the page every 0.1 s; it returns
# performance.now() (ms since navigation started) once true.
SHOAL_READY = "() => document.body && document.body.dataset.ready === '1' ? performance.now() : false"
# optuna-dashboard 0.21's study page draws these four Plotly plots for a one-objective study with
# intermediate values; each is drawn when its graph div holds a trace with data and Plotly's SVG.
OPTUNA_PLOTS = ("plot-history", "graph-hyperparameter-importances", "graph-timeline",
                "graph-intermediate-values")
OPTUNA_READY = """() => {
  const drawn = PLOTS.every(function (id) {
    const el = document.getElementById(id);
    const gd = el && (el.classList.contains("js-plotly-plot") ? el : el.querySelector(".js-plotly-plot"));
    return gd && gd.querySelector(".main-svg") && (gd.data || []).some(function (t) {
      return (t.x && t.x.length > 0) || (t.y && t.y.length > 0); });
  });
  return drawn ? performance.now() : false;
}""".replace("PLOTS", json.dumps(list(OPTUNA_PLOTS)))
# When the HTML and its scripts were parsed (DOMContentLoaded), ms since navigation started.
DOM_LOADED = "() => performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def synthetic_trials(trials: int, steps: int, seed: int) -> list[dict[str, Any]]:
    """The study's trials as plain records, the same for both tools: params, state, curve, value."""
    rng = np.random.default_rng(seed)
    records = []
    rungs = [r for r in (steps // 10, steps // 3) if r >= 1] or [1]
    for _ in range(trials):
        lr = float(10 ** rng.uniform(-5, -1))
        batch = round(2 ** float(rng.uniform(4, 9)))
        dropout = float(rng.uniform(0.0, 0.5))
        optimizer = OPTIMIZERS[int(rng.integers(len(OPTIMIZERS)))]
        floor = ((math.log10(lr) + 3.0) ** 2 / 4 + (dropout - 0.2) ** 2 + abs(math.log2(batch) - 6) / 20
                 + (0.1 if optimizer == "sgd" else 0.0))
        tau = float(rng.uniform(3, 15))
        noise = rng.normal(0.0, 0.02, size=steps)
        curve = floor + 1.5 * np.exp(-np.arange(steps) / tau) + noise
        draw = rng.uniform()
        if draw < 0.70:
            state, last = "COMPLETE", steps
        elif draw < 0.95:
            state, last = "PRUNED", int(rungs[int(rng.integers(len(rungs)))])
        else:
            state, last = "FAILED", int(rng.integers(1, steps + 1))
        records.append({"params": {"lr": lr, "batch_size": batch, "dropout": dropout, "optimizer": optimizer},
                        "state": state, "curve": [float(v) for v in curve[:last]],
                        "value": float(curve[-1]) if state == "COMPLETE" else None})
    return records


def build_shoal_db(path: str | Path, name: str, *, trials: int, steps: int, seed: int) -> None:
    """Write the study through shoal's storage (one create, one update, one finish per trial)."""
    from shoal import Categorical, Direction, Float, Int, TrialState
    from shoal.clock import FakeClock
    from shoal.storage import open_storage

    clock = FakeClock(start=1.7e9)
    storage = open_storage(f"sqlite:///{Path(path).resolve()}", clock=clock)
    try:
        study = storage.create_study(name, [Direction.MINIMIZE], user_attrs={"benchmark": "bench_dashboard"})
        dists = {"lr": Float(1e-5, 1e-1, log=True), "batch_size": Int(16, 512, log=True),
                 "dropout": Float(0.0, 0.5), "optimizer": Categorical(list(OPTIMIZERS))}
        for record in synthetic_trials(trials, steps, seed):
            trial = storage.create_trial(study.study_id, params=record["params"], distributions=dists,
                                         worker="bench")
            clock.advance(0.5 * len(record["curve"]) + 1.0)
            storage.update_trial(trial.trial_id, intermediate=dict(enumerate(record["curve"])))
            values = None if record["value"] is None else [record["value"]]
            storage.finish_trial(trial.trial_id, state=TrialState[record["state"]], values=values)
    finally:
        storage.close()


def build_optuna_db(path: str | Path, name: str, *, trials: int, steps: int, seed: int) -> None:
    """Write the same study for optuna-dashboard: Optuna's RDBStorage creates the file, its schema and
    the study; the trials go in as rows of Optuna's own tables in one transaction (its `add_trials`
    takes ~40 ms a trial here: 7 minutes for 10,000), then `optuna.load_study` reads them back and
    the first trial is checked against what `optuna.trial.create_trial` makes of the same record."""
    import sqlite3

    import optuna
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
        distribution_to_json,
    )

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{Path(path).resolve()}"
    storage = optuna.storages.RDBStorage(url)
    optuna.create_study(study_name=name, storage=storage, direction="minimize")
    storage.remove_session()
    storage.engine.dispose()
    dists = {"lr": FloatDistribution(1e-5, 1e-1, log=True), "batch_size": IntDistribution(16, 512, log=True),
             "dropout": FloatDistribution(0.0, 0.5), "optimizer": CategoricalDistribution(list(OPTIMIZERS))}
    as_json = {key: distribution_to_json(d) for key, d in dists.items()}
    records = synthetic_trials(trials, steps, seed)
    start = datetime.datetime(2023, 11, 14, 22, 13, 20)  # shoal's FakeClock(1.7e9), in UTC
    rows: dict[str, list[tuple[Any, ...]]] = {"trials": [], "params": [], "values": [], "steps": []}
    elapsed = 0.0
    with sqlite3.connect(Path(path)) as db:
        study_id = db.execute("SELECT study_id FROM studies WHERE study_name = ?", (name,)).fetchone()[0]
        for number, record in enumerate(records):
            trial_id = number + 1
            begin = start + datetime.timedelta(seconds=elapsed)
            elapsed += 0.5 * len(record["curve"]) + 1.0
            end = start + datetime.timedelta(seconds=elapsed)
            state = "FAIL" if record["state"] == "FAILED" else record["state"]
            rows["trials"].append((trial_id, number, study_id, state, str(begin), str(end)))
            for key, value in record["params"].items():
                internal = dists[key].to_internal_repr(value)
                rows["params"].append((trial_id, key, float(internal), as_json[key]))
            if record["value"] is not None:
                rows["values"].append((trial_id, 0, record["value"], "FINITE"))
            rows["steps"].extend((trial_id, step, v, "FINITE") for step, v in enumerate(record["curve"]))
        db.executemany("INSERT INTO trials (trial_id, number, study_id, state, datetime_start, "
                       "datetime_complete) VALUES (?, ?, ?, ?, ?, ?)", rows["trials"])
        db.executemany("INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json)"
                       " VALUES (?, ?, ?, ?)", rows["params"])
        db.executemany("INSERT INTO trial_values (trial_id, objective, value, value_type) "
                       "VALUES (?, ?, ?, ?)", rows["values"])
        db.executemany("INSERT INTO trial_intermediate_values (trial_id, step, intermediate_value, "
                       "intermediate_value_type) VALUES (?, ?, ?, ?)", rows["steps"])
    db.close()
    loaded = optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)
    first = records[0] if records else None
    if len(loaded) != trials or (first is not None and (
            loaded[0].params != first["params"] or loaded[0].value != first["value"]
            or loaded[0].intermediate_values != dict(enumerate(first["curve"])))):
        raise SystemExit(f"bench_dashboard.py: Optuna read back {len(loaded)} trials from {path}, "
                         f"not the {trials} written. Delete the file and report this.")


def cached_db(kind: str, *, trials: int, steps: int, seed: int) -> Path:
    """The study's database for `kind` ('shoal' or 'optuna'), built once and kept under /tmp."""
    folder = Path(os.environ.get("SHOAL_BENCH_CACHE", "/tmp/shoal-bench-dashboard"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{kind}-{trials}x{steps}-seed{seed}.db"
    if not path.exists():
        partial = path.with_suffix(".partial.db")
        partial.unlink(missing_ok=True)
        build = build_shoal_db if kind == "shoal" else build_optuna_db
        build(partial, STUDY, trials=trials, steps=steps, seed=seed)
        for suffix in ("-wal", "-shm"):
            Path(f"{partial}{suffix}").unlink(missing_ok=True)
        partial.rename(path)
    return path


# --- measuring ---------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(name: str, argv: list[str], port: int, probe: str, *, env: dict[str, str] | None = None,
           timeout_s: float = 120.0) -> Iterator[int]:
    """Start a server, wait until `probe` answers 200, yield its port; stop it by its PID at the end."""
    with tempfile.TemporaryFile() as log:
        yield from _serve(name, argv, port, probe, log, env=env, timeout_s=timeout_s)


def _serve(name: str, argv: list[str], port: int, probe: str, log: Any, *, env: dict[str, str] | None,
           timeout_s: float) -> Iterator[int]:
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                log.seek(0)
                tail = log.read().decode(errors="replace").strip().splitlines()[-3:]
                raise SystemExit(f"bench_dashboard.py: {name} exited with {proc.returncode}: "
                                 f"{' | '.join(tail)}")
            try:
                status, _ = get(port, probe)
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"bench_dashboard.py: {name} did not answer {probe} within "
                                 f"{timeout_s:.0f} s.")
            time.sleep(0.2)
        yield port
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # its own session: the server and any worker it forked
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def time_route(port: int, path: str, *, repeats: int, budget_s: float) -> dict[str, Any]:
    """The first request's time, then up to `repeats` more within `budget_s`: p50 and p95 in ms."""
    times = []
    start = time.perf_counter()
    status, body = get(port, path)
    first = (time.perf_counter() - start) * 1000
    spent = first / 1000
    while len(times) < repeats and (spent < budget_s or len(times) < 3):
        t0 = time.perf_counter()
        status, body = get(port, path)
        took = time.perf_counter() - t0
        times.append(took * 1000)
        spent += took
    return {"path": path, "status": status, "bytes": len(body), "first_ms": first, "n": len(times),
            "p50_ms": float(np.percentile(times, 50)), "p95_ms": float(np.percentile(times, 95))}


def page_times(url: str, ready: str, *, loads: int, timeout_s: float) -> dict[str, Any]:
    """Seconds from navigation until `ready` holds, in headless Chromium: a first load, then `loads` more,
    each in a new browser context (no cache)."""
    from playwright.sync_api import Error, sync_playwright

    chromium = os.environ.get("SHOAL_CHROMIUM") or shutil.which("chromium") or shutil.which("google-chrome")
    times: list[float | None] = []
    loaded: list[float] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=BROWSER_ARGS)
        try:
            for _ in range(loads + 1):
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = context.new_page()
                try:
                    page.goto(url, wait_until="commit", timeout=timeout_s * 1000)
                    times.append(_poll(page, ready, timeout_s))
                    loaded.append(float(page.evaluate(DOM_LOADED)) / 1000)
                except Error:
                    times.append(None)  # not ready within timeout_s
                finally:
                    context.close()
        finally:
            browser.close()
    done = [t for t in times[1:] if t is not None]
    return {"first_s": times[0], "median_s": float(np.median(done)) if done else None,
            "dom_loaded_s": float(np.median(loaded)) if loaded else None,
            "loads": loads, "timeouts": sum(t is None for t in times), "timeout_s": timeout_s}


def measure_tool(name: str, argv: Callable[[int], list[str]], page: str, ready: str,
                 routes: Callable[[int], list[str]], args: argparse.Namespace, *, env: dict[str, str] | None,
                 say: Callable[[str], None]) -> dict[str, Any]:
    """The study page's times on one server, then the API's on a fresh one: both start cold."""
    port = free_port()
    say(f"{name} on port {port}: study page")
    with server(name, argv(port), port, "/api/studies", env=env):
        url = f"http://127.0.0.1:{port}{page}"
        times = page_times(url, ready, loads=args.loads, timeout_s=args.page_timeout)
        result: dict[str, Any] = {"page": times}
    port = free_port()
    say(f"{name} on port {port}: API")
    with server(name, argv(port), port, "/api/studies", env=env):
        result["api"] = [time_route(port, path, repeats=args.repeats, budget_s=30.0) for path in routes(port)]
    return result


def _poll(page: Any, ready: str, timeout_s: float) -> float | None:
    """Seconds from navigation until `ready` returns a time, checked from here every 0.1 s (Playwright's
    wait_for_function(polling=50) never returned on optuna-dashboard's 10,000-trial page, though the
    same condition held after ~185 s when checked this way); None if it never held."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = page.evaluate(ready)
        if value:
            return float(value) / 1000
        time.sleep(0.1)
    return None


def shoal_routes(port: int, trial: int) -> list[str]:
    base = f"/api/studies/{STUDY}"
    status, body = get(port, base)
    if status != 200:
        raise SystemExit(f"bench_dashboard.py: shoal's {base} answered {status}: {body[:200]!r}")
    kinds = json.loads(body).get("figures", [])
    return ["/api/studies", base, f"{base}/trials?since=0", f"{base}/trials.csv",
            *(f"{base}/figures/{kind}" for kind in kinds), f"{base}/trials/{trial}",
            f"{base}/trials/{trial}/figure"]


OPTUNA_ROUTES = ("/api/meta", "/api/studies", "/api/studies/1?after=0", "/api/studies/1/param_importances",
                 "/csv/1")


def measure_report(url: str) -> dict[str, Any]:
    """`write_report` on the study, in a fresh process (imports included), and the file's size."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "bench.html"
        code = ("import sys, time; t = time.perf_counter(); from shoal.storage import open_reader; "
                "from shoal.reports import write_report; r = open_reader(sys.argv[1]); "
                "write_report(r, sys.argv[2], sys.argv[3]); print(time.perf_counter() - t)")
        done = subprocess.run([sys.executable, "-c", code, url, STUDY, str(out)], capture_output=True,
                              text=True, env=shoal_env(), check=False)
        if done.returncode != 0:
            last = done.stderr.strip().splitlines()[-1:]
            raise SystemExit(f"bench_dashboard.py: write_report failed: {last}")
        return {"seconds": float(done.stdout.strip().splitlines()[-1]), "bytes": out.stat().st_size}


def shoal_env() -> dict[str, str]:
    """This checkout's shoal first on the path, for the processes the benchmark starts."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    return env


def find_optuna_dashboard(given: str | None) -> str | None:
    for candidate in (given, os.environ.get("OPTUNA_DASHBOARD"), shutil.which("optuna-dashboard"),
                      "/work/wt/venv-od/bin/optuna-dashboard", "/tmp/venv-od/bin/optuna-dashboard"):
        if candidate and Path(candidate).exists():
            return candidate
    return None


# --- the table ---------------------------------------------------------------------------------------
def _s(value: float | None, timeout: float | None = None) -> str:
    if value is None:
        return f"> {timeout:.0f} s (not ready)" if timeout else "not run"
    return f"{value:.2f} s"


def _ratio(ours: float | None, theirs: float | None) -> str:
    if ours is None or theirs is None or ours <= 0:
        return "—"
    return f"{theirs / ours:.1f}x"


def print_tables(results: dict[str, Any]) -> None:
    shoal, optuna = results.get("shoal", {}), results.get("optuna", {})
    print(f"\n## Dashboards on {results['trials']:,} trials x {results['steps']} intermediate values "
          f"(targets: study page < {TARGET_PAGE_S:.0f} s, API p95 < {TARGET_API_P95_MS:.0f} ms, "
          f">= {TARGET_SPEEDUP:.0f}x faster than optuna-dashboard, report < {TARGET_REPORT_S:.0f} s)\n")
    print("| measure | shoal | optuna-dashboard | optuna-dashboard / shoal |")
    print("|---|---|---|---|")
    sp, op = shoal.get("page", {}), optuna.get("page", {})
    print(f"| study page, first load (cold server) | {_s(sp.get('first_s'), sp.get('timeout_s'))} | "
          f"{_s(op.get('first_s'), op.get('timeout_s'))} | {_ratio(sp.get('first_s'), op.get('first_s'))} |")
    print(f"| study page, median of {sp.get('loads', op.get('loads', 0))} more loads | "
          f"{_s(sp.get('median_s'), sp.get('timeout_s'))} | {_s(op.get('median_s'), op.get('timeout_s'))} | "
          f"{_ratio(sp.get('median_s'), op.get('median_s'))} |")
    print(f"| ... of which HTML and scripts parsed (DOMContentLoaded, median) | "
          f"{_s(sp.get('dom_loaded_s'))} | {_s(op.get('dom_loaded_s'))} | — |")
    worst_s = max((r["p95_ms"] for r in shoal.get("api", [])), default=None)
    worst_o = max((r["p95_ms"] for r in optuna.get("api", [])), default=None)
    print(f"| slowest API route, p95 | {'not run' if worst_s is None else f'{worst_s:.0f} ms'} | "
          f"{'not run' if worst_o is None else f'{worst_o:.0f} ms'} | {_ratio(worst_s, worst_o)} |")
    report = results.get("report")
    written = "not run" if report is None else f"{report['seconds']:.2f} s, {report['bytes'] / 1e6:.1f} MB"
    print(f"| `write_report` (fresh process) | {written} | — | — |")
    for tool, data in (("shoal", shoal), ("optuna-dashboard", optuna)):
        if not data.get("api"):
            continue
        print(f"\n{tool} API (first request, then p50 / p95 over n more):\n")
        print("| route | status | bytes | first (ms) | n | p50 (ms) | p95 (ms) |")
        print("|---|---|---|---|---|---|---|")
        for r in data["api"]:
            print(f"| `{r['path']}` | {r['status']} | {r['bytes']:,} | {r['first_ms']:.0f} | {r['n']} | "
                  f"{r['p50_ms']:.0f} | {r['p95_ms']:.0f} |")
    for note in results.get("notes", []):
        print(f"\n{note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=50, help="intermediate values per completed trial")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=20, help="requests per API route after the first")
    parser.add_argument("--loads", type=int, default=3, help="study page loads after the first")
    parser.add_argument("--page-timeout", type=float, default=600.0, help="seconds a page may take")
    parser.add_argument("--quick", action="store_true", help="500 trials x 20 steps, 5 repeats, 1 more load")
    parser.add_argument("--optuna-dashboard", metavar="PATH", help="the optuna-dashboard executable")
    parser.add_argument("--skip-optuna", action="store_true", help="measure shoal only")
    parser.add_argument("--out", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.trials, args.steps, args.repeats, args.loads = 500, 20, 5, 1
    now = datetime.datetime.now(datetime.timezone.utc)
    results: dict[str, Any] = {"trials": args.trials, "steps": args.steps, "seed": args.seed, "notes": [],
                               "when": now.isoformat(timespec="seconds"),
                               "python": platform.python_version(), "cpus": os.cpu_count(),
                               "commit": _commit()}
    say = lambda line: print(f"bench_dashboard: {line}", file=sys.stderr, flush=True)  # noqa: E731
    say(f"building or reusing the study ({args.trials:,} x {args.steps}) under /tmp")
    shoal_db = cached_db("shoal", trials=args.trials, steps=args.steps, seed=args.seed)
    shoal_url = f"sqlite:///{shoal_db}"
    say("write_report")
    results["report"] = measure_report(shoal_url)

    runner = "import sys; from shoal.cli import main; sys.exit(main(sys.argv[1:]))"
    try:
        import shoal.dashboard as dashboard

        has_dashboard = hasattr(dashboard, "create_app")
    except ImportError:
        has_dashboard = False
    if has_dashboard:
        def shoal_argv(port: int) -> list[str]:
            return [sys.executable, "-c", runner, "dashboard", "--storage", shoal_url, "--port", str(port)]

        results["shoal"] = measure_tool("shoal dashboard", shoal_argv, f"/studies/{STUDY}", SHOAL_READY,
                                        lambda port: shoal_routes(port, trial=0), args, env=shoal_env(),
                                        say=say)
    else:
        results["notes"].append("shoal.dashboard has no create_app on this commit: shoal's page and API "
                                "not run.")

    executable = None if args.skip_optuna else find_optuna_dashboard(args.optuna_dashboard)
    if executable is None and not args.skip_optuna:
        results["notes"].append("optuna-dashboard not found: python3 -m venv /tmp/venv-od && "
                                "/tmp/venv-od/bin/pip install optuna-dashboard optuna==5.0.0, then "
                                "--optuna-dashboard /tmp/venv-od/bin/optuna-dashboard.")
    if executable is not None:
        say("building or reusing the Optuna copy of the study")
        optuna_db = cached_db("optuna", trials=args.trials, steps=args.steps, seed=args.seed)

        def optuna_argv(port: int) -> list[str]:
            assert executable is not None
            return [executable, f"sqlite:///{optuna_db}", "--port", str(port), "--host", "127.0.0.1",
                    "--quiet"]

        results["optuna"] = measure_tool("optuna-dashboard", optuna_argv, "/dashboard/studies/1",
                                         OPTUNA_READY, lambda port: list(OPTUNA_ROUTES), args, env=None,
                                         say=say)
    print_tables(results)
    print(f"\ncommit {results['commit']}, {results['when']}, Python {results['python']}, "
          f"{results['cpus']} CPUs")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


def _commit() -> str:
    done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=False)
    return done.stdout.strip() or "unknown"


if __name__ == "__main__":
    raise SystemExit(main())

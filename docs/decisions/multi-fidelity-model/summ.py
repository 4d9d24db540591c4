"""Mean normalised regret per method at fractions of T (y* = max(y_ref, all observed in the files))."""
import gzip, json, sys, collections
import numpy as np
import os
EXCL = os.environ.get("EXCL", "").split(",")
REF = os.environ.get("LCBENCH_REF_DIR", "reference") + "/"
rows = []
for p in sys.argv[1:]:
    op = gzip.open if p.endswith(".gz") else open
    with op(p, "rt") as f:
        rows += [json.loads(l) for l in f if l.strip()]
rows = [r for r in rows if r.get("status") == "ok" and r["task"] not in EXCL]
mine = {(r["task"], r["seed"]) for r in rows if r["method"].startswith("dev-")}
tasks = sorted({t for t, _ in mine}); seeds = sorted({s for _, s in mine})
rows = [r for r in rows if r["task"] in tasks and r["seed"] in seeds]
ref = {t: json.load(open(REF + t + ".json")) for t in tasks}
ystar = {t: max([ref[t]["y_ref"]] + [r["final_incumbent"] for r in rows if r["task"] == t]) for t in tasks}
F = (0.05, 0.1, 0.25, 0.5, 1.0)
def inc_at(traj, t):
    v = -np.inf
    for tt, y in traj:
        if tt <= t: v = y
    return v
res = collections.defaultdict(lambda: collections.defaultdict(list))
cost = collections.defaultdict(list)
for r in rows:
    t = r["task"]; d = ystar[t] - ref[t]["median_final"]
    for f in F:
        v = inc_at(r["traj"], f * r["T"])
        res[r["method"]][(t, f)].append(min(1e9, (ystar[t] - v) / d) if np.isfinite(v) else 3.0)
    cost[r["method"]].append((r["overhead"]["per_start_ms"], r["overhead"]["per_decision_ms"]))
methods = sorted(res, key=lambda m: np.mean([np.mean(res[m][(t, 1.0)]) for t in tasks]))
print(f"tasks={len(tasks)} seeds={seeds}")
print(f"{'method':26s} " + " ".join(f"{f:>6}" for f in F) + "  start_ms dec_ms n_task")
for m in methods:
    ok = [t for t in tasks if (t, 1.0) in res[m]]
    if len(ok) < len(tasks): continue
    print(f"{m:26s} " + " ".join(f"{np.mean([np.mean(res[m][(t, f)]) for t in tasks]):6.3f}" for f in F)
          + f"  {np.mean([c[0] for c in cost[m]]):7.2f} {np.mean([c[1] for c in cost[m]]):7.2f}  {len(ok)}")

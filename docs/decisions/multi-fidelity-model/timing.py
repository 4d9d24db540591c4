"""Time MultiFidelitySampler.suggest at ~1,000 trials of a stopping-ASHA history (synthetic curves).

Each timed call sees the history grown by one finished trial and 4 running trials one step further,
as in a real study (so the memo serves what a real run would, no more)."""
import sys, time
import numpy as np
from shoal.samplers import History, MultiFidelitySampler, TPESampler, GPSampler, sampler_rng
from shoal.space import Float, Int, Space
from shoal.trial import FrozenTrial, TrialState as S
SPACE = Space({
    "batch_size": Int(16, 512, log=True), "learning_rate": Float(1e-4, 1e-1, scale="log"),
    "momentum": Float(0.1, 0.99), "weight_decay": Float(1e-5, 1e-1),
    "num_layers": Int(1, 5), "max_units": Int(64, 1024, log=True), "max_dropout": Float(0.0, 1.0),
})
rng = np.random.default_rng(0)
def trial(i, state=None, upto=None):
    p = SPACE.sample(rng); u = SPACE.encode(p)
    final = float(np.sum((u - 0.3) ** 2)); curve = {s: final + 1.0 / s for s in range(1, 53)}
    stop = upto or (52 if i % 27 == 0 else 27 if i % 9 == 0 else 9 if i % 3 == 0 else 3 if i % 2 else 1)
    st = state or (S.COMPLETE if stop == 52 else S.PRUNED)
    return FrozenTrial(i, i, st, params=p, intermediate={s: v for s, v in curve.items() if s <= stop},
                       values=(curve[52],) if st is S.COMPLETE else None,
                       datetime_complete=None if st is S.RUNNING else float(i))
N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
K = 40
trials = [trial(i) for i in range(N + K)]
def run(sampler, label):
    ts = []
    for k in range(K):
        n = N + k
        running = [trial(n + j, S.RUNNING, upto=1 + (k + 7 * j) % 30) for j in range(4)]
        running = [FrozenTrial(n + j, n + j, S.RUNNING, params=r.params, intermediate=r.intermediate) for j, r in enumerate(running)]
        h = History([*trials[:n], *running], n + 4)
        t0 = time.process_time(); sampler.suggest(SPACE, h, sampler_rng(0, n + 4)); ts.append(time.process_time() - t0)
    ts = np.array(ts[5:]) * 1000
    print(f"{label:40s} n={N}: mean {ts.mean():.2f} ms, median {np.median(ts):.2f}, max {ts.max():.2f}")
run(TPESampler(seed=0), "TPESampler (plain, all trials)")
run(MultiFidelitySampler(base=TPESampler(seed=0), random_fraction=0.0, unreached="drop"), "MF(TPE) drop, model every call")
run(MultiFidelitySampler(base=TPESampler(seed=0), random_fraction=0.0), "MF(TPE) impute, model every call")
run(MultiFidelitySampler(base=TPESampler(seed=0), random_fraction=0.0, unreached="bad"), "MF(TPE) bad, model every call")
if "--gp" in sys.argv:
    run(MultiFidelitySampler(base=GPSampler(seed=0), random_fraction=0.0, unreached="drop"), "MF(GP) drop, model every call")
    run(MultiFidelitySampler(base=GPSampler(seed=0), random_fraction=0.0), "MF(GP) impute, model every call")
    run(MultiFidelitySampler(base=GPSampler(seed=0)), "MF(GP) impute, default (rf 1/3)")

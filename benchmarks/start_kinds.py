"""Which start kinds reach the optimum most often per second?

Run from the repository root::

    /tmp/dev/bin/python benchmarks/start_kinds.py --n 1000 --seeds 10

For every scenario of ``benchmarks/scenarios.py`` (one data set each, data
seed 7) the best known log-likelihood is the best of a thorough fit (60 starts
with escape moves) and a fit started from the true parameters.  Then:

* **each start kind alone, without escape moves** (``start_kinds=[kind]``,
  ``escape=False``, 10 starts; the split path is deterministic, so one): the
  share of single starts that reach the best known solution, and the seconds
  per start;
* **the default mix with and without escape moves** (``n_init=20``), over
  ``--seeds`` random states: the share of fits that reach the best known
  log-likelihood, the share of starts at it, and seconds per fit.

Timings are in-process (``time.perf_counter`` around ``fit`` only), single
BLAS thread.  Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scenarios import SCENARIOS, simulate  # noqa: E402

from trustseg.model.mixture import ClusterwiseRegression  # noqa: E402

KINDS = ("split", "lines", "kmeans", "random")


def reached(loglik, best):
    return bool(loglik >= best - 1e-6 * abs(best))


def best_known(X, y, k, truth):
    thorough = ClusterwiseRegression(n_segments=k, n_init=60, random_state=987).fit(X, y)
    given = ClusterwiseRegression(n_segments=k, n_init=0, init_params=[truth]).fit(X, y)
    return max(thorough.loglik_, given.loglik_)


def timed_fit(X, y, **params):
    model = ClusterwiseRegression(**params)
    started = time.perf_counter()
    model.fit(X, y)
    return model, time.perf_counter() - started


def study(name, n, seeds):
    X, y, truth = simulate(name, n, seed=7)
    k = SCENARIOS[name]["k"]
    best = best_known(X, y, k, truth)
    kind_rows, mix_rows = [], []
    for kind in KINDS:
        n_init = 1 if kind == "split" else 10
        hits, seconds = [], []
        for seed in range(1 if kind == "split" else 2):
            model, sec = timed_fit(X, y, n_segments=k, n_init=n_init, start_kinds=[kind], escape=False,
                                   random_state=seed)
            hits += [reached(v, best) for v in model.start_logliks_]
            seconds.append(sec / n_init)
        kind_rows.append({"scenario": name, "kind": kind, "starts": len(hits), "share_at_best": np.mean(hits),
                          "seconds_per_start": np.mean(seconds)})
    for escape in (False, True):
        fits, starts, seconds = [], [], []
        for seed in range(seeds):
            model, sec = timed_fit(X, y, n_segments=k, escape=escape, random_state=seed)
            fits.append(reached(model.loglik_, best))
            starts.append(np.mean([reached(v, best) for v in model.start_logliks_]))
            seconds.append(sec)
        mix_rows.append({"scenario": name, "escape": escape, "fits": seeds, "share_of_fits_at_best": np.mean(fits),
                         "mean_share_of_starts_at_best": np.mean(starts), "median_seconds": np.median(seconds),
                         "max_seconds": np.max(seconds)})
    return kind_rows, mix_rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--scenarios", nargs="*", default=list(SCENARIOS))
    args = parser.parse_args(argv)
    kinds, mixes = [], []
    for name in args.scenarios:
        kind_rows, mix_rows = study(name, args.n, args.seeds)
        kinds += kind_rows
        mixes += mix_rows
        print(f"done {name}", file=sys.stderr, flush=True)
    print(f"## Start kinds alone (n = {args.n}, no escape moves)\n")
    print(pd.DataFrame(kinds).round(3).to_markdown(index=False))
    print(f"\n## The default mix with and without escape moves (n = {args.n}, {args.seeds} seeds)\n")
    print(pd.DataFrame(mixes).round(3).to_markdown(index=False))


if __name__ == "__main__":
    main()

"""Two versions of the engine on one simulated scenario: optimum reached, seconds, starts at the best.

    python benchmarks/before_after.py SRC_DIR [SRC_DIR ...] [--scenario base] [--n 100000]
                                      [--random-states 0 1 2] [--n-init 10 30]

SRC_DIR is the ``src`` folder of a checkout (for example ``git archive OLD src |
tar -x -C /tmp/old`` gives ``/tmp/old/src``).  Each fit runs in a fresh process
with single-threaded BLAS, so imports do not mix; ``seconds`` times ``fit``
alone.  The data are scenario ``--scenario`` of ``benchmarks/scenarios.py`` with
data seed 7, the same draw as ``optimum_matrix.py`` uses.  Prints a Markdown
table with, per fit, the log-likelihood, its gap to the best of all fits in the
table, the starts the engine counted as reaching its best, and the EM iterations
of the chosen start.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[2])
from scenarios import simulate
from trustseg import ClusterwiseRegression
X, y, truth = simulate(sys.argv[3], int(sys.argv[4]), 7)
k = len(truth["weights"])
started = time.perf_counter()
model = ClusterwiseRegression(n_segments=k, n_init=int(sys.argv[6]), random_state=int(sys.argv[5])).fit(X, y)
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "loglik": float(model.loglik_), "n_best_starts": int(model.n_best_starts_),
                  "n_starts": len(model.start_logliks_), "n_iter": int(model.n_iter_)}))
"""


def fit(src, scenario, n, random_state, n_init):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", CHILD, str(Path(src).resolve()), str(HERE), scenario, str(n),
                          str(random_state), str(n_init)], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", nargs="+")
    parser.add_argument("--scenario", default="base")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--random-states", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-init", type=int, nargs="+", default=[10, 30])
    args = parser.parse_args(argv)
    rows = []
    for src in args.src:
        for n_init in args.n_init:
            for random_state in args.random_states:
                record = fit(src, args.scenario, args.n, random_state, n_init)
                rows.append({"src": src, "random_state": random_state, "n_init": n_init, **record})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    best = max(row["loglik"] for row in rows)
    print(f"Scenario {args.scenario}, n = {args.n:,}, data seed 7; gap = best of the table minus the fit.\n")
    print("| engine | random_state | n_init | seconds | log-likelihood | gap | starts at its best | EM iterations |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['src']} | {row['random_state']} | {row['n_init']} | {row['seconds']:.1f} | "
              f"{row['loglik']:,.2f} | {best - row['loglik']:,.2f} | {row['n_best_starts']}/{row['n_starts']} | "
              f"{row['n_iter']} |")


if __name__ == "__main__":
    main()

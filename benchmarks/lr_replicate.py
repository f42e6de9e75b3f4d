"""Time single replicates of the bootstrap likelihood-ratio test on a large survey, for versions of trustseg.

    python benchmarks/lr_replicate.py SRC_DIR [SRC_DIR ...] [--n 100000] [--k 1 2] [--replicates 0 1]

SRC_DIR is the ``src`` folder of a checkout (``git archive OLD src | tar -x -C
/tmp/old`` gives ``/tmp/old/src``).  Each version runs in a fresh process
with single-threaded BLAS.  In it, the script:

1. simulates n answers of a golf-like analysis: repurchase, a mean of three
   1-7 items (steps of 1/3, censored at 1 and 7), on satisfaction, with two
   segments (60% repurchase = 0.4 + 0.9 sat, 40% = 4.5 + 0.15 sat, residual
   SDs 0.7 and 0.6; seed 2010);
2. fits the censored family with K and K + 1 segments (``n_init=5``,
   ``random_state=0``);
3. runs the workflow's replicates of the K against K + 1 test
   (``bootstrap._lr_replicate``: simulate from the K fit, refit K and K + 1
   with 3 fresh starts plus the full-sample solution).

It prints, per replicate, the statistic, the CPU seconds and the EM steps
taken on all n respondents.  On data with two segments the K = 2 against 3
refits are the ones whose likelihood is flat along a superfluous split, the
cost measured in ``docs/benchmarks.md`` ("The censored default at 100,000
respondents").
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

CHILD = r"""
import sys, time, warnings
sys.path.insert(0, sys.argv[1])
import numpy as np, pandas as pd
from trustseg.model import bootstrap as bs, em
from trustseg.model.mixture import ClusterwiseRegression
n, ks, replicates = int(sys.argv[2]), [int(v) for v in sys.argv[3].split(",")], [int(v) for v in sys.argv[4].split(",")]
rng = np.random.default_rng(2010)
sat = np.clip(np.round(rng.normal(4.6, 1.2, n) * 3) / 3, 1, 7)
loyal = rng.random(n) < 0.4
y = np.where(loyal, 4.5 + 0.15 * sat + rng.normal(0, 0.6, n), 0.4 + 0.9 * sat + rng.normal(0, 0.7, n))
y = np.clip(np.round(y * 3) / 3, 1, 7)
X = pd.DataFrame({"satisfaction": sat})
steps = {"full": 0}
em_step = em.em_step
def counting(problem, state):
    steps["full"] += problem.n == n
    return em_step(problem, state)
em.em_step = counting
warnings.simplefilter("ignore")
def fit(k):
    return ClusterwiseRegression(n_segments=k, n_init=5, random_state=0, family="censored",
                                 family_options={"lower": 1, "upper": 7}).fit(X, pd.Series(y))
for k in ks:
    model_k, model_k1 = fit(k), fit(k + 1)
    Xa, _, wa, names = bs._as_arrays(X, y, None, model_k)  # the arrays the workflow's LR test hands on
    for b in replicates:
        steps["full"] = 0
        started = time.process_time()
        stat, note = bs._lr_replicate(Xa, wa, names, model_k, model_k1, model_k.params_,
                                      bs.replicate_rng(bs.lr_test_seed(2010, k), b), 3)
        print(f"{sys.argv[1]}  K={k} vs {k + 1}  replicate {b}: LR {stat:.4f} {note}  "
              f"{time.process_time() - started:.2f} s CPU  full-data EM steps {steps['full']}", flush=True)
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", nargs="+")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--k", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--replicates", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args(argv)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    for source in args.src:
        subprocess.run([sys.executable, "-c", CHILD, source, str(args.n), ",".join(map(str, args.k)),
                        ",".join(map(str, args.replicates))], check=True, env=env)


if __name__ == "__main__":
    main()

"""Time one engine fit, to compare two versions of trustseg on the same data.

    python benchmarks/time_engine.py SRC_DIR [SRC_DIR ...] [--family gaussian] [--n 100000] [--repeat 2]

SRC_DIR is the ``src`` folder of a checkout (``git archive OLD src | tar -x -C
/tmp/old`` gives ``/tmp/old/src``); each is timed in a fresh process with
single-threaded BLAS so imports and threads do not mix, ``--repeat`` times in
turn (so that a busy machine slows every version alike).  Seconds are CPU
seconds of the fit alone.

Data: n respondents, three segments (intercepts 0.5, 2.5, 5.5; slopes 1.1,
0.6, 0.1; SDs 0.5, 0.6, 0.4; shares 0.5, 0.3, 0.2), x ~ U(1, 7), seed 2024.
For ``--family censored`` and ``ordinal`` the outcome is rounded to whole
points and kept within 1-7 (a rating: piles at both ends), fitted with the
bounds or categories 1-7; ``gaussian`` fits the continuous outcome, and
``gaussian-rated`` the same rating as the other two.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

CHILD = """
import sys, time, warnings
import numpy as np, pandas as pd
sys.path.insert(0, sys.argv[1])
from trustseg.model.mixture import ClusterwiseRegression
family, n = sys.argv[2], int(sys.argv[3])
rng = np.random.default_rng(2024)
x = rng.uniform(1, 7, n)
z = rng.choice(3, n, p=[0.5, 0.3, 0.2])
noise = np.array([0.5, 0.6, 0.4])[z] * rng.standard_normal(n)
y = np.array([0.5, 2.5, 5.5])[z] + np.array([1.1, 0.6, 0.1])[z] * x + noise
options = {}
if family != "gaussian":
    y = np.clip(np.round(y), 1, 7)
if family == "censored":
    options = {"family_options": {"lower": 1, "upper": 7}}
if family == "ordinal":
    options = {"family_options": {"categories": [1, 2, 3, 4, 5, 6, 7]}}
name = "gaussian" if family.startswith("gaussian") else family
started = time.process_time()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    model = ClusterwiseRegression(n_segments=3, n_init=10, random_state=0, family=name, **options).fit(
        pd.DataFrame({"x": x}), pd.Series(y))
print(f"{sys.argv[1]}  {family}  n={n}  {time.process_time() - started:.2f} s  loglik {model.loglik_:.4f}  "
      f"starts at best {model.n_best_starts_}/{len(model.start_logliks_)}", flush=True)
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", nargs="+")
    parser.add_argument("--family", default="gaussian",
                        choices=["gaussian", "gaussian-rated", "censored", "ordinal"])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    for _ in range(args.repeat):
        for source in args.src:
            subprocess.run([sys.executable, "-c", CHILD, source, args.family, str(args.n)], check=True, env=env)


if __name__ == "__main__":
    main()

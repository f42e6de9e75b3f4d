"""Time ordinal fits against gaussian fits of the same data and K, for one or more versions of trustseg.

    python benchmarks/ordinal_speed.py SRC_DIR [SRC_DIR ...] [--scenario engine customersat liking] [--repeat 1]

SRC_DIR is the ``src`` folder of a checkout (``git archive OLD src | tar -x -C
/tmp/old`` gives ``/tmp/old/src``).  Every fit runs in a fresh process with
single-threaded BLAS; the versions alternate within each scenario, family
and K, so a busy machine slows them alike.  Seconds are CPU seconds of the
fit alone; "at best" counts the starts that reached the chosen solution.

Scenarios (each fitted with ``n_init=20, random_state=0``):

* ``engine``: the data of ``benchmarks/time_engine.py --family ordinal``
  (5,000 respondents, three segments, x ~ U(1, 7), the outcome rounded to
  1-7), K = 3;
* ``customersat``: the 1,811 answers of ``../shared/data/bayesm_customerSat.csv``
  (q1, overall satisfaction 1-10, on the item means of pricing q2-q4,
  effectiveness q5-q8 and distribution q9-q10), K = 2 and 3;
* ``liking``: a simulated 11-point item (0-10) with eleven yes/no
  predictors, 1,453 respondents in two segments (60/40; the first driven
  by predictors 1-4, the second by 5-8 and less satisfied overall), K = 2
  and 3.

The gaussian fit takes the same rating as a number.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

CHILD = """
import sys, time, warnings
import numpy as np, pandas as pd
sys.path.insert(0, sys.argv[1])
from trustseg.model.mixture import ClusterwiseRegression
scenario, family, k, shared = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
if scenario == "engine":
    rng = np.random.default_rng(2024)
    n = 5000
    x = rng.uniform(1, 7, n)
    z = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    noise = np.array([0.5, 0.6, 0.4])[z] * rng.standard_normal(n)
    y = np.clip(np.round(np.array([0.5, 2.5, 5.5])[z] + np.array([1.1, 0.6, 0.1])[z] * x + noise), 1, 7)
    X, categories = pd.DataFrame({"x": x}), list(range(1, 8))
elif scenario == "customersat":
    data = pd.read_csv(shared + "/bayesm_customerSat.csv")
    X = pd.DataFrame({"pricing": data[["q2", "q3", "q4"]].mean(axis=1),
                      "effectiveness": data[["q5", "q6", "q7", "q8"]].mean(axis=1),
                      "distribution": data[["q9", "q10"]].mean(axis=1)})
    y, categories = data["q1"].to_numpy(float), list(range(1, 11))
else:
    rng = np.random.default_rng(11)
    n, p = 1453, 11
    X = pd.DataFrame((rng.uniform(size=(n, p)) < rng.uniform(0.2, 0.7, p)).astype(float),
                     columns=[f"x{j + 1}" for j in range(p)])
    z = rng.uniform(size=n) < 0.4
    slopes = np.zeros((2, p))
    slopes[0, :4], slopes[1, 4:8] = [1.2, 0.8, 0.6, -0.5], [0.4, 1.5, -0.8, 0.7]
    latent = np.where(z, -0.8, 0.6) + np.einsum("ij,ij->i", X.to_numpy(), slopes[z.astype(int)])
    latent += rng.logistic(size=n)
    y = np.clip(np.round(5 + 1.6 * latent), 0, 10)
    categories = list(range(0, 11))
options = {"family_options": {"categories": categories}} if family == "ordinal" else {}
started = time.process_time()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    model = ClusterwiseRegression(n_segments=k, n_init=20, random_state=0, family=family, **options).fit(
        X, pd.Series(y))
print(f"{scenario:12s} K={k} {family:9s} {time.process_time() - started:8.2f} s  loglik {model.loglik_:.6f}  "
      f"at best {model.n_best_starts_}/{len(model.start_logliks_)}  {sys.argv[1]}", flush=True)
"""

KS = {"engine": [3], "customersat": [2, 3], "liking": [2, 3]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", nargs="+")
    parser.add_argument("--scenario", nargs="+", default=list(KS), choices=list(KS))
    parser.add_argument("--family", nargs="+", default=["gaussian", "ordinal"], choices=["gaussian", "ordinal"])
    parser.add_argument("--k", nargs="+", type=int, help="only these K (default: each scenario's)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--shared", default=str(SHARED), help="the folder of bayesm_customerSat.csv")
    args = parser.parse_args(argv)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    for scenario in args.scenario:
        for k in args.k or KS[scenario]:
            for family in args.family:
                for _ in range(args.repeat):
                    for source in args.src:
                        subprocess.run([sys.executable, "-c", CHILD, source, scenario, family, str(k), args.shared],
                                       check=True, env=env)


if __name__ == "__main__":
    main()

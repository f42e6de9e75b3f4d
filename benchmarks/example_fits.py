"""Refit every K of a finished run with one or more versions of the engine: optimum, segments and seconds.

    python benchmarks/example_fits.py RESULTS CONFIG SRC_DIR [SRC_DIR ...] [--json OUT]

RESULTS is a finished run's ``results/`` folder and CONFIG the config it ran
with; SRC_DIR the ``src`` folder of a checkout (``git archive OLD src | tar
-x -C /tmp/old`` gives ``/tmp/old/src``).  For every analysis and K the
script refits the model with the hyperparameters stored in
``RESULTS/<analysis>/fits/k<K>.json`` (the same estimator, starts, seed and
variance floor as the workflow's ``fit_k`` job, without Snakemake) on
``RESULTS/cleaning/clean.csv``, once per SRC_DIR, each in a fresh process
with single-threaded BLAS; ``seconds`` is the fit's CPU time.  It prints per
analysis and K the log-likelihood each version reached, the starts that
reached it, the seconds, the relative difference of the log-likelihoods and
whether the two solutions are the same (shares, coefficients and extras
within 1e-4 after matching the segments).  Run it before and after an
engine change: the answers to keep, and the speed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, sys, time, warnings
sys.path.insert(0, sys.argv[1])
import numpy as np
import yaml
from trustseg.config import analysis_equations
from trustseg.stages.common import analysis_data, read_clean
try:
    from trustseg.model.chain import ChainRegression
except ImportError:
    ChainRegression = None
from trustseg.model.mixture import ClusterwiseRegression

results, config = sys.argv[2], yaml.safe_load(open(sys.argv[3]))
from pathlib import Path
results = Path(results)
clean = read_clean(results / "cleaning" / "clean.csv")
out = []
for name, analysis in config["analyses"].items():
    chain = bool(analysis.get("equations"))
    equations = analysis_equations(analysis)
    outcome, predictors = equations[-1]
    weight = (config.get("data") or {}).get("weight_column")
    X, y, w, _, side = analysis_data(clean, outcome, predictors, name, weight, None, equations if chain else None)
    for path in sorted((results / name / "fits").glob("k*.json"), key=lambda p: int(p.stem[1:])):
        cls = ChainRegression if chain else ClusterwiseRegression
        accepted = set(cls().get_params())
        hyper = {k: v for k, v in json.loads(path.read_text())["model"]["hyperparameters"].items() if k in accepted}
        started = time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = cls(**hyper)
            model.fit(X, None if chain else y, sample_weight=w, family_data=side)
        seconds = time.process_time() - started
        params = np.column_stack([model.weights_, model.intercept_, model.coef_, model.extra_])
        out.append({"analysis": name, "k": int(path.stem[1:]), "loglik": float(model.loglik_),
                    "n_best": int(model.n_best_starts_), "n_starts": len(model.start_logliks_),
                    "k_fitted": int(model.n_segments_), "seconds": seconds, "params": params.tolist()})
print(json.dumps(out))
"""


def refit(src, results, config):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", CHILD, str(Path(src).resolve()), str(results), str(config)],
                          capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def same_segments(a, b, atol=1e-4):
    """Whether two solutions (rows: segments) agree after matching their segments."""
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    cost = np.abs(a[:, None, :] - b[None, :, :]).max(axis=2)
    rows, cols = linear_sum_assignment(cost)
    return bool(cost[rows, cols].max() <= atol)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path)
    parser.add_argument("config", type=Path)
    parser.add_argument("src", nargs="+")
    parser.add_argument("--json", type=Path, help="also write every fit's record here")
    args = parser.parse_args(argv)
    runs = {src: refit(src, args.results, args.config) for src in args.src}
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))
    first, *others = args.src
    print(f"Refits of {args.results} ({args.config}); seconds are CPU seconds of the fit alone.\n")
    header = "| analysis | K | " + " | ".join(f"loglik ({s})" for s in args.src) + " | rel. difference | same " \
             "segments | " + " | ".join(f"starts at best, seconds ({s})" for s in args.src) + " |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for i, row in enumerate(runs[first]):
        cells = [row["analysis"], str(row["k"]), *[f"{runs[s][i]['loglik']:.6f}" for s in args.src]]
        last = runs[others[-1]][i] if others else row
        rel = (last["loglik"] - row["loglik"]) / max(1.0, abs(row["loglik"]))
        cells += [f"{rel:+.1e}", "yes" if same_segments(row["params"], last["params"]) else "no"]
        cells += [f"{runs[s][i]['n_best']}/{runs[s][i]['n_starts']}, {runs[s][i]['seconds']:.2f}" for s in args.src]
        print("| " + " | ".join(cells) + " |")
    for s in args.src:
        print(f"\ntotal seconds ({s}): {sum(r['seconds'] for r in runs[s]):.1f}")


if __name__ == "__main__":
    main()

"""Refit every K of the default run's analyses from their own settings, and time each fit.

    python benchmarks/golf_fits.py [RESULTS]      # RESULTS: a finished default run's results/ (default: results)

Reads ``RESULTS/<analysis>/fits/k<K>.json`` for every analysis of the default
config, refits each K on ``RESULTS/cleaning/clean.csv`` with the hyperparameters
stored in it (the same estimator, starts, seed and variance floor as the
workflow's ``fit_k`` job, without Snakemake and job start-up), and prints per
analysis and K the log-likelihood reached, how many starts reached it and the
seconds, then the total.  Run it before and after an engine change to compare
speed and optimum on the bundled example.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

from trustseg.config import analysis_equations
from trustseg.model.chain import ChainRegression
from trustseg.model.mixture import ClusterwiseRegression
from trustseg.stages.common import analysis_data, read_clean

REPO = Path(__file__).resolve().parent.parent


def main(results: Path) -> None:
    import yaml

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    clean = read_clean(results / "cleaning" / "clean.csv")
    total = time.perf_counter()
    print("| analysis | K | log-likelihood | starts reaching it | seconds |\n|---|---:|---:|---:|---:|")
    for name, analysis in config["analyses"].items():
        chain = bool(analysis.get("equations"))
        equations = analysis_equations(analysis)
        outcome, predictors = equations[-1]
        X, y, w, _, side = analysis_data(clean, outcome, predictors, name, None, None,
                                         equations if chain else None)
        for path in sorted((results / name / "fits").glob("k*.json"), key=lambda p: int(p.stem[1:])):
            hyper = json.loads(path.read_text())["model"]["hyperparameters"]
            started = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # removed segments and the like are in the workflow's logs
                model = (ChainRegression if chain else ClusterwiseRegression)(**hyper)
                model.fit(X, None if chain else y, sample_weight=w, family_data=side)
            print(f"| {name} | {path.stem[1:]} | {model.loglik_:.5f} | {model.n_best_starts_} of "
                  f"{len(model.start_logliks_)} | {time.perf_counter() - started:.2f} |")
    print(f"\ntotal {time.perf_counter() - total:.1f} s")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "results")

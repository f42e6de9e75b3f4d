"""Monte Carlo: does the spurious-segment rule ever set aside the true segments of clean survey data?

    python benchmarks/admissibility_mc.py [--seeds 50] [--n 300 1000] [--designs ...] [--results FILE]
    python benchmarks/admissibility_mc.py --summary-only [--results FILE]

Data (issue 23): coarse survey answers without any planted trouble.  Each
respondent belongs to segment k with probability ``shares[k]``; a
satisfaction level s is the mean of four 7-point items (a latent level
N(4.5, 1.2) plus N(0, 0.8) per item, rounded and kept in 1..7); the outcome
is the mean of three 7-point items, each ``intercept[k] + slope[k] * s +
N(0, sigma[k])`` plus N(0, 0.5) item noise, rounded and kept in 1..7.  The
outcome thus takes 19 values and piles at the ends where a segment's line
reaches them.  Designs (``DESIGNS``): ``separated`` (a rising, a middle and a
flat line), ``crossing`` (a rising and a falling line crossing mid-scale and
a flat one), ``small`` (as separated, one segment of 8%), ``ceiling`` (one
segment flat at the top of the scale: a pile at 7 that is a true segment).

Per data set, for the censored family on [1, 7] (the workflow's default for
scores) and for the gaussian family:

* the **true solution**: the fit started at the generating parameters
  (``init_params``, ``n_init=0``, ``admissible_only=False``) run to its
  optimum; the rule must not call it spurious (``problems_``);
* the **default fit** (``n_init=20`` as the workflow's default, the
  admissible solution): it should not report a solution below the true one
  (a set-aside true solution would show as a lower log-likelihood; so does
  a search that missed it, which the start records tell apart).

A true solution flagged ``variance_floor`` is one where EM from the truth
ran a segment's SD down to the floor (the truth has none below 0.4): the
fitted SDs are recorded (``true_sigma``) to tell that from a true segment
caught by the rule.

One JSON line per data set and family goes to ``--results``; the summary
table prints the share of data sets whose true solution was flagged (by kind)
and the share whose default fit ended below it.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from trustseg.model.mixture import ClusterwiseRegression

DESIGNS = {
    "separated": {"intercept": [0.8, 2.5, 5.0], "slope": [1.0, 0.5, 0.1], "sigma": [0.6, 0.6, 0.5],
                  "shares": [0.5, 0.3, 0.2]},
    "crossing": {"intercept": [0.5, 7.0, 3.8], "slope": [1.0, -0.6, 0.05], "sigma": [0.7, 0.7, 0.6],
                 "shares": [0.45, 0.30, 0.25]},
    "small": {"intercept": [0.8, 2.5, 5.0], "slope": [1.0, 0.5, 0.1], "sigma": [0.6, 0.6, 0.5],
              "shares": [0.62, 0.30, 0.08]},
    "ceiling": {"intercept": [0.8, 2.5, 6.9], "slope": [1.0, 0.4, 0.05], "sigma": [0.6, 0.6, 0.4],
                "shares": [0.5, 0.3, 0.2]},
}
FAMILIES = {"censored": {"lower": 1.0, "upper": 7.0}, "gaussian": {}}


def _items(level, noise, n_items, rng):
    answers = np.rint(level[:, None] + rng.normal(0.0, noise, (len(level), n_items)))
    return np.clip(answers, 1, 7).mean(axis=1)


def simulate(design, n, seed):
    """Satisfaction and outcome scores (means of 7-point items) and the true segment of each respondent."""
    spec = DESIGNS[design]
    rng = np.random.default_rng([seed, n, list(DESIGNS).index(design)])
    segment = rng.choice(len(spec["shares"]), size=n, p=spec["shares"])
    satisfaction = _items(rng.normal(4.5, 1.2, n), 0.8, 4, rng)
    line = (np.asarray(spec["intercept"])[segment] + np.asarray(spec["slope"])[segment] * satisfaction
            + rng.normal(0.0, np.asarray(spec["sigma"])[segment]))
    return pd.DataFrame({"satisfaction": satisfaction}), _items(line, 0.5, 3, rng), segment


def truth_start(design):
    spec = DESIGNS[design]
    return {"intercept": spec["intercept"], "coef": np.asarray(spec["slope"])[:, None], "sigma": spec["sigma"],
            "weights": spec["shares"]}


def one_data_set(design, n, seed, family):
    X, y, _ = simulate(design, n, seed)
    common = {"n_segments": 3, "family": family, "family_options": FAMILIES[family], "random_state": seed}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        true = ClusterwiseRegression(n_init=0, init_params=truth_start(design), admissible_only=False,
                                     **common).fit(X, y)
        started = time.process_time()
        default = ClusterwiseRegression(n_init=20, **common).fit(X, y)
        seconds = time.process_time() - started
    flagged = sorted({kind for codes in true.problems_ for kind in str(codes or "").split(";") if kind})
    return {"design": design, "n": n, "seed": seed, "family": family, "true_k": int(true.n_segments_),
            "true_loglik": float(true.loglik_), "true_flagged": flagged,
            "true_sigma": np.asarray(true.sigma_, dtype=float).round(4).tolist(),
            "true_weights": np.asarray(true.weights_, dtype=float).round(4).tolist(),
            "default_set_aside": bool(getattr(default, "set_aside_", None)),
            "default_k": int(default.n_segments_), "default_loglik": float(default.loglik_),
            "default_problems": [str(p or "") for p in default.problems_], "seconds": seconds}


def summary(records):
    frame = pd.DataFrame(records)
    frame["flagged"] = frame["true_flagged"].map(bool)
    frame["below"] = (frame["default_loglik"] < frame["true_loglik"] - 1e-6 * frame["true_loglik"].abs()) & (
        frame["true_k"] == 3)
    frame["kinds"] = frame["true_flagged"].map(lambda kinds: ", ".join(kinds))
    frame["collapsed"] = frame["flagged"] & frame["true_sigma"].map(lambda s: min(s) < 0.1)
    rows = []
    for (design, n, family), part in frame.groupby(["design", "n", "family"], sort=False):
        kinds = part.loc[part["flagged"], "kinds"].value_counts()
        rows.append({"design": design, "n": n, "family": family, "data sets": len(part),
                     "true solution flagged": f"{part['flagged'].sum()} ({part['flagged'].mean():.0%})",
                     "by kind": "; ".join(f"{k} {v}" for k, v in kinds.items()) or "-",
                     "of which EM from the truth collapsed (SD < 0.1)": f"{part['collapsed'].sum()}",
                     "default fit below the true solution": f"{part['below'].sum()}",
                     "median seconds": f"{part['seconds'].median():.2f}"})
    return pd.DataFrame(rows).to_markdown(index=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--n", type=int, nargs="+", default=[300, 1000])
    parser.add_argument("--designs", nargs="+", default=list(DESIGNS), choices=list(DESIGNS))
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--results", type=Path, default=Path("/tmp/admissibility_mc.jsonl"))
    parser.add_argument("--summary-only", action="store_true")
    args = parser.parse_args()
    done = set()
    if args.results.exists():
        done = {(r["design"], r["n"], r["seed"], r["family"]) for r in map(json.loads, args.results.open())}
    if not args.summary_only:
        with args.results.open("a") as out:
            for design in args.designs:
                for n in args.n:
                    for seed in range(1, args.seeds + 1):
                        for family in args.families:
                            if (design, n, seed, family) not in done:
                                out.write(json.dumps(one_data_set(design, n, seed, family)) + "\n")
                                out.flush()
    print(summary([json.loads(line) for line in args.results.open()]))


if __name__ == "__main__":
    main()

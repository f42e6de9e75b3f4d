"""Monte Carlo: coverage, false ``drives`` verdicts and BIC with segment-specific spread (issue 12).

Data: two segments of equal share, satisfaction the mean of three 7-point
items (a respondent's level ~ N(4.5, 1.5), each item that level plus N(0, 0.7)
noise, rounded and clipped to 1..7), a normal outcome with

* a *flat* segment: outcome 5 + 0 * satisfaction (a ``drives`` verdict there is false);
* a *driven* segment: outcome 0 + 0.6 * satisfaction;

and three spread scenarios, the same in both segments:

* ``growing``: log SD = -1 + 0.25 * satisfaction (SD 0.47 at 1, 2.1 at 7);
* ``mild``: log SD = -0.325 + 0.1 * satisfaction (SD 0.80 at 1, 1.45 at 7);
* ``constant``: log SD = 0.125 (the SD of the other two at satisfaction 4.5).

Each data set is fitted with K = 2 twice (``n_init`` starts each):

* ``constant``: today's model, ``fit_mixture(GaussianFamily(), ...)``;
* ``location-scale``: :class:`trustseg.model.families.spread.LocationScaleFamily` with
  satisfaction as the spread predictor.

The fitted segment with the larger slope is matched to the driven one.  Each
slope gets a 95% Wald interval from the observed information (the inverse of
minus the Hessian of :func:`~trustseg.model.likelihood.observed_information`) and from the sandwich
H^-1 B H^-1 (B the outer product of scores it returns).  A ``drives`` verdict in
the flat segment is p < 0.05 (two-sided Wald) and |slope| > 0.1; its rate is the
false-drives rate.  BIC = -2 loglik + d log n with d = 7 (constant) and 9
(location-scale); the table gives how often BIC prefers the location-scale fit
and how often the likelihood-ratio test of zero spread slopes (chi-square, 2
df) rejects at the 5% level.  The rows "BIC's choice" and "LR test's choice"
give the intervals of whichever fit that rule picks per data set (what an
analyst who lets the rule decide would report).

A fit that lost a segment during EM, or whose minus Hessian is not positive
definite, gives no interval; such fits are counted ("no interval") and left out
of the rates.  Run from the repository root, e.g.::

    nice -n 15 /tmp/dev/bin/python benchmarks/spread_coverage.py                  # n = 300, 1000; 200 data sets
    nice -n 15 /tmp/dev/bin/python benchmarks/spread_coverage.py --replications 20 --n 300

The Markdown summary goes to stdout and to ``--output``
(default ``benchmarks/results/spread_coverage.md``), headed by the command.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

from trustseg.model.families import GaussianFamily
from trustseg.model.families.spread import LocationScaleFamily, spread_data
from trustseg.model.likelihood import observed_information
from trustseg.model.search import fit_mixture

ROOT = Path(__file__).resolve().parent.parent
INTERCEPTS = {"flat": 5.0, "driven": 0.0}
SLOPES = {"flat": 0.0, "driven": 0.6}
# log SD = a + b * satisfaction; all three give SD exp(0.125) = 1.13 at satisfaction 4.5
SPREAD = {"growing": (-1.0, 0.25), "mild": (-0.325, 0.1), "constant": (0.125, 0.0)}
# A drives verdict: significantly different from zero and not negligible.
ALPHA = 0.05
MARGIN = 0.1
Z95 = stats.norm.ppf(0.975)
MODELS = ("constant", "location-scale")
# the rows of the coverage tables: each fitted model, and per data set the one BIC or the LR test picks
CHOICES = MODELS + ("BIC's choice", "LR test's choice")
# the location-scale segments have one more parameter each: the spread slope
EXTRA_DF = 2
SEGMENTS = ("flat", "driven")
SE_KINDS = ("observed", "sandwich")


def simulate(n, spread, rng):
    """Satisfaction (n,) and outcome (n,) of the two-segment design with the given spread scenario."""
    level = rng.normal(4.5, 1.5, n)
    satisfaction = np.clip(np.round(level[:, None] + rng.normal(0.0, 0.7, (n, 3))), 1, 7).mean(axis=1)
    driven = rng.uniform(size=n) < 0.5
    intercept = np.where(driven, INTERCEPTS["driven"], INTERCEPTS["flat"])
    slope = np.where(driven, SLOPES["driven"], SLOPES["flat"])
    a, b = SPREAD[spread]
    y = rng.normal(intercept + slope * satisfaction, np.exp(a + b * satisfaction))
    return satisfaction, y


def slope_inference(family, X, y, data, fit):
    """Per segment (flat, driven): slope, observed-information SE and sandwich SE; None if no interval."""
    params = fit.params
    if len(params.weights) != 2:
        return None
    design = family.design(X)
    hessian, score_outer, _ = observed_information(family, design, y, np.ones(len(y)), params, data)
    try:
        np.linalg.cholesky(-hessian)
    except np.linalg.LinAlgError:
        return None
    inverse = np.linalg.inv(-hessian)
    sandwich = inverse @ score_outer @ inverse
    block = params.beta.shape[1] + params.extra.shape[1]
    order = np.argsort(params.beta[:, 1])  # smaller slope = the flat segment
    out = {}
    for segment, j in zip(SEGMENTS, order):
        index = j * block + 1
        out[segment] = (params.beta[j, 1], np.sqrt(inverse[index, index]), np.sqrt(sandwich[index, index]))
    return out


def one_data_set(n, spread, replication, n_init):
    rng = np.random.default_rng([20240612, n, list(SPREAD).index(spread), replication])
    satisfaction, y = simulate(n, spread, rng)
    X = satisfaction[:, None]
    families = {"constant": (GaussianFamily(), None)}
    location_scale = LocationScaleFamily(spread_names=("satisfaction",))
    families["location-scale"] = (location_scale, spread_data(location_scale.spread_names, X))
    record = {}
    for model, (family, data) in families.items():
        fit = fit_mixture(family, X, y, 2, data=data, n_init=n_init, random_state=replication)
        n_params = 2 * (2 + family.n_extra()) + 1
        record[model] = {"loglik": fit.loglik, "bic": -2.0 * fit.loglik + n_params * np.log(n),
                         "slopes": slope_inference(family, X, y, data, fit)}
    return record


def chosen(record, choice):
    """The fit of ``record`` that ``choice`` (a model, or BIC's choice) reports."""
    if choice in MODELS:
        return record[choice]
    if choice == "BIC's choice":
        return min((record[model] for model in MODELS), key=lambda fit: fit["bic"])
    return record["location-scale" if lr_rejects(record) else "constant"]


def lr_rejects(record):
    """Whether the LR test rejects constant spread (zero spread slopes) at level ALPHA.

    The constant-spread mixture is the location-scale one with its K spread
    slopes at zero, an interior point: twice the log-likelihood gain is
    asymptotically chi-square with K degrees of freedom.
    """
    gain = 2.0 * (record["location-scale"]["loglik"] - record["constant"]["loglik"])
    return bool(gain > stats.chi2.ppf(1.0 - ALPHA, EXTRA_DF))


def rates(records, choice, se_kind):
    """Coverage per segment, false-drives rate, mean slopes and the number of fits without an interval."""
    column = SE_KINDS.index(se_kind) + 1
    fits = [chosen(r, choice) for r in records]
    usable = [fit["slopes"] for fit in fits if fit["slopes"] is not None]
    out = {"no_interval": len(records) - len(usable)}
    for segment in SEGMENTS:
        estimate = np.array([u[segment][0] for u in usable])
        se = np.array([u[segment][column] for u in usable])
        out[f"cover_{segment}"] = float(np.mean(np.abs(estimate - SLOPES[segment]) <= Z95 * se))
        out[f"mean_{segment}"] = float(np.mean(estimate))
        out[f"sd_{segment}"] = float(np.std(estimate, ddof=1))
        out[f"se_{segment}"] = float(np.mean(se))
        if segment == "flat":
            p = 2.0 * stats.norm.sf(np.abs(estimate) / se)
            out["false_drives"] = float(np.mean((p < ALPHA) & (np.abs(estimate) > MARGIN)))
    return out


def summary(results, command, seconds):
    lines = [
        f"Command: `{command}`",
        "",
        f"Run {datetime.date.today().isoformat()}, {seconds / 60:.1f} CPU minutes; "
        f"{min(len(v) for v in results.values())} data sets per n and spread scenario.",
        "",
        "Slopes: flat segment 0, driven segment 0.6.  Coverage of 95% Wald intervals; false drives: "
        f"p < {ALPHA} and |slope| > {MARGIN} in the flat segment.",
        "",
    ]
    for spread in SPREAD:
        a, b = SPREAD[spread]
        lines += [f"### Spread {spread} (log SD = {a:g} + {b:g} * satisfaction)", "",
                  "| n | model | SE | coverage flat | coverage driven | false drives | mean slope flat "
                  "(SD) | mean slope driven (SD) | mean SE flat / driven | no interval |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for n in sorted({key[0] for key in results}):
            records = results[(n, spread)]
            for choice in CHOICES:
                for se_kind in SE_KINDS:
                    r = rates(records, choice, se_kind)
                    lines.append(
                        f"| {n} | {choice} | {se_kind} | {r['cover_flat']:.3f} | {r['cover_driven']:.3f} | "
                        f"{r['false_drives']:.3f} | {r['mean_flat']:.3f} ({r['sd_flat']:.3f}) | "
                        f"{r['mean_driven']:.3f} ({r['sd_driven']:.3f}) | {r['se_flat']:.3f} / "
                        f"{r['se_driven']:.3f} | {r['no_interval']} |")
        lines.append("")
    lines += ["### Choosing the spread: BIC and the LR test of constant spread", "",
              "| spread | n | data sets | BIC prefers location-scale | LR test rejects constant spread "
              f"({ALPHA:g}) | median BIC(constant) - BIC(location-scale) |",
              "|---|---|---|---|---|---|"]
    for spread in SPREAD:
        for n in sorted({key[0] for key in results}):
            records = results[(n, spread)]
            gap = np.array([r["constant"]["bic"] - r["location-scale"]["bic"] for r in records])
            rejects = np.mean([lr_rejects(r) for r in records])
            lines.append(f"| {spread} | {n} | {len(records)} | {np.mean(gap > 0):.3f} | {rejects:.3f} | "
                         f"{np.median(gap):.1f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[300, 1000], help="sample sizes")
    parser.add_argument("--replications", type=int, default=200, help="data sets per n and spread scenario")
    parser.add_argument("--n-init", type=int, default=4, help="EM starts per fit")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "spread_coverage.md")
    args = parser.parse_args(argv)
    niceness = os.nice(0)
    # the niceness the script runs at is part of how it was run (its CPU minutes depend on it)
    command = shlex.join((["nice", "-n", str(niceness)] if niceness else []) + [sys.executable] + sys.argv)
    print(command, flush=True)
    started = time.process_time()
    results = {}
    for n in args.n:
        for spread in SPREAD:
            results[(n, spread)] = [one_data_set(n, spread, r, args.n_init) for r in range(args.replications)]
            print(f"n = {n}, {spread} spread: {args.replications} data sets, "
                  f"{(time.process_time() - started) / 60:.1f} CPU minutes so far", file=sys.stderr, flush=True)
    text = summary(results, command, time.process_time() - started)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)


if __name__ == "__main__":
    main()

"""Monte Carlo: coverage of the error-corrected slopes and false ``drives`` verdicts (issue 27).

Data: two (``--segments 2``) or three segments of equal share; each
construct the mean of four items, an item being the construct plus normal
noise whose variance gives the score the reliability of the design (0.7, 0.8
or 0.9 over the whole sample; ``--rounded`` rounds the items to 1..7 answers
first, as a survey records them).  Within each segment the constructs are
normal; residual SD 0.4 in every equation.

* ``single``: satisfaction ~ N(4, 1); outcome = a_k + b_k satisfaction with
  (a, b) = (0.5, 0.9) in the *driven* segment, (5, 0) in the *flat* one and
  (8.5, -0.4) in the third (its line meets the driven one 2 SD above the
  mean satisfaction: a third line crossing the first at the mean, such as
  (2.5, 0.4), leaves K = 3 unable to tell the two apart, scores or
  constructs alike).
* ``chain``: satisfaction ~ N(4, 1); in the *trust-building* segment trust =
  -0.6 + 0.9 sat and repurchase = 0.65 + 1.1 trust + 0 sat (the issue's
  generating values); in the second trust = 3 + 0.3 sat, repurchase = 2 +
  0 trust + 0.5 sat; in the third (loyal regardless) trust = 5, repurchase
  = 6.  Trust and repurchase are measured with error too.

Each data set is fitted with the true K (gaussian, ``--n-init`` starts); the
reliabilities are Cronbach's alphas of the simulated items, the error
variances ``(1 - alpha) var(score)`` with their sampling variance carried
(:func:`trustseg.model.measurement.error_variance_sampling_variance`).
Fitted segments are matched to the true ones by the respondents' posteriors
(the pairing that puts the most posterior mass on each respondent's true
segment), so a misordered fit is not scored against the wrong truth.  For
every path the table gives the share of data sets without an interval
(``no_interval``: a segment whose scores vary too little within it for their
error is not corrected), and among the others the coverage of the 95%
intervals of the observed and the corrected coefficient, the median
estimate, and for each zero path the rate of false ``drives`` verdicts
(margin 0.1) of both.

Run from the repository root, e.g.::

    nice -n 10 python benchmarks/measurement_coverage.py --design single --replications 100
    nice -n 10 python benchmarks/measurement_coverage.py --design chain --replications 100 --n 300
    nice -n 10 python benchmarks/measurement_coverage.py --design chain --segments 3 --n 1000 --reliability 0.8
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings

import numpy as np
import pandas as pd

from trustseg.model.bootstrap import bootstrap_replicates, latent_percentiles
from trustseg.model.chain import ChainRegression
from trustseg.model.effects import chain_effects
from trustseg.model.inference import verdict_columns
from trustseg.model.measurement import error_variance, error_variance_sampling_variance, latent_coefficients
from trustseg.model.mixture import ClusterwiseRegression

N_ITEMS = 4
MARGIN = 0.1
#: (outcome, predictor) -> true coefficient per segment (segment 1 first)
TRUTH = {
    "single": {("y", "satisfaction"): (0.9, 0.0, -0.4)},
    "chain": {("trust", "satisfaction"): (0.9, 0.3, 0.0), ("repurchase", "satisfaction"): (0.0, 0.5, 0.0),
              ("repurchase", "trust"): (1.1, 0.0, 0.0)},
}
#: the intercepts of each segment (single: y; chain: trust, repurchase)
INTERCEPTS = {"single": {"y": (0.5, 5.0, 8.5)}, "chain": {"trust": (-0.6, 3.0, 5.0), "repurchase": (0.65, 2.0, 6.0)}}


def measured(construct, reliability, rng, rounded):
    """The score (mean of the items), the items' Cronbach alpha and the items."""
    n = len(construct)
    noise_sd = np.sqrt(N_ITEMS * (1 - reliability) / reliability * construct.var())
    items = construct[:, None] + rng.normal(0.0, noise_sd, (n, N_ITEMS))
    if rounded:
        items = np.clip(np.round(items), 1, 7)
    return items.mean(axis=1), cronbach(items), items


def cronbach(items: np.ndarray) -> float:
    total = items.sum(axis=1)
    return float(N_ITEMS / (N_ITEMS - 1) * (1 - items.var(axis=0, ddof=1).sum() / total.var(ddof=1)))


def simulate(design, n, reliability, rng, rounded=False, k=2):
    """The observed scores, per measured construct its alpha and items, and each respondent's true segment."""
    segment = rng.integers(0, k, n)
    sat = rng.normal(4.0, 1.0, n)
    truth, base = TRUTH[design], INTERCEPTS[design]

    def line(outcome, terms):
        value = np.array(base[outcome])[segment] + rng.normal(0, 0.4, n)
        for predictor, values in terms:
            value = value + np.array(truth[(outcome, predictor)])[segment] * values
        return value

    if design == "single":
        y = line("y", [("satisfaction", sat)])
        score, alpha, items = measured(sat, reliability, rng, rounded)
        return pd.DataFrame({"satisfaction": score, "y": y}), {"satisfaction": (alpha, items)}, segment
    trust = line("trust", [("satisfaction", sat)])
    rep = line("repurchase", [("trust", trust), ("satisfaction", sat)])
    frame, alphas = {}, {}
    for name, values in (("satisfaction", sat), ("trust", trust), ("repurchase", rep)):
        frame[name], alpha, items = measured(values, reliability, rng, rounded)
        alphas[name] = (alpha, items)
    return pd.DataFrame(frame), alphas, segment


def fit(design, data, n_init, seed, k):
    if design == "single":
        model = ClusterwiseRegression(n_segments=k, n_init=n_init, random_state=seed)
        model.fit(data[["satisfaction"]], data["y"])
        inference = model.inference(data[["satisfaction"]], data["y"])
        return model, inference, model.predict_proba(data[["satisfaction"]], data["y"])
    model = ChainRegression([("trust", ["satisfaction"]), ("repurchase", ["satisfaction", "trust"])],
                            n_segments=k, n_init=n_init, random_state=seed).fit(data)
    return model, model.inference(data), model.predict_proba(data)


def one_data_set(design, n, reliability, seed, n_init, rounded, k, bootstrap=0):
    """Rows of (segment, path, truth, observed and corrected estimate, se, verdict) for one data set; with
    ``bootstrap`` refits also the percentile intervals of the corrected coefficients (kind ``corrected_boot``)."""
    rng = np.random.default_rng(seed)
    data, measured_items, truth = simulate(design, n, reliability, rng, rounded, k)
    alphas = {c: a for c, (a, _) in measured_items.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, inference, posteriors = fit(design, data, n_init, seed, k)
    if model.n_segments_ != k:
        return []
    variances = {c: float(data[c].var(ddof=1)) for c in alphas}
    theta = {c: error_variance(a, variances[c]) for c, a in alphas.items()}
    theta_var = {c: error_variance_sampling_variance(t, N_ITEMS, n) for c, t in theta.items()}
    latent = latent_coefficients(model, data, posteriors, inference.cov, theta, theta_var)
    boot = percentile_intervals(design, model, data, measured_items, bootstrap, seed) if bootstrap else None
    if design == "single":
        observed = inference.params.query("term == 'satisfaction'")
        estimates = {"observed": (observed["estimate"].to_numpy(), observed["std_error"].to_numpy())}
        frame = latent.frame().query("term == 'satisfaction'")
        estimates["corrected"] = (frame["latent_estimate"].to_numpy(), frame["latent_std_error"].to_numpy())
        keys = [("y", "satisfaction")]
        per_key = {keys[0]: estimates}
    else:
        per_key = chain_paths(model, inference, latent)
        keys = list(TRUTH["chain"])
    # fitted segment order[j] is true segment j: the pairing with the most posterior mass on the true segments
    order = max(itertools.permutations(range(k)),
                key=lambda perm: sum(posteriors[truth == j, perm[j]].sum() for j in range(k)))
    rows = []
    if boot is not None:
        for key in keys:
            term = f"{key[0]}~{key[1]}" if design == "chain" else key[1]
            low, high = (boot.loc[(boot["term"] == term)].set_index("segment").reindex(range(1, k + 1))[c]
                         .to_numpy() for c in ("latent_boot_ci_low", "latent_boot_ci_high"))
            point = per_key[key]["corrected"][0]
            for j in range(k):
                f, truth_j = order[j], TRUTH[design][key][j]
                rows.append({"seed": seed, "path": f"{key[1]} -> {key[0]}", "segment": j + 1, "truth": truth_j,
                             "kind": "corrected_boot", "estimate": point[f], "std_error": (high[f] - low[f]) / 3.92,
                             "covered": bool(low[f] <= truth_j <= high[f]), "drives": bool(low[f] > 0 or high[f] < 0)})
    for key in keys:
        for kind, (est, se) in per_key[key].items():
            est, se = np.asarray(est)[list(order)], np.asarray(se)[list(order)]
            verdicts = verdict_columns(est, se, 0.05, MARGIN)
            for j in range(k):
                truth = TRUTH[design][key][j]
                rows.append({"seed": seed, "path": f"{key[1]} -> {key[0]}", "segment": j + 1, "truth": truth,
                             "kind": kind,
                             "estimate": est[j], "std_error": se[j],
                             "covered": bool(verdicts["ci_low"][j] <= truth <= verdicts["ci_high"][j]),
                             "drives": verdicts["verdict"][j] in ("drives_up", "drives_down")})
    return rows


def percentile_intervals(design, model, data, measured_items, replicates, seed):
    """Percentile intervals of the corrected coefficients over bootstrap refits, each refit corrected with the
    alphas and score variances of its own resample (as the workflow's bootstrap does)."""
    X, y = (data, None) if design == "chain" else (data[["satisfaction"]], data["y"])

    def latent(refit, rows):
        resample = data.iloc[rows].reset_index(drop=True)
        theta = {c: error_variance(cronbach(items[rows]), float(resample[c].var(ddof=1)))
                 for c, (_, items) in measured_items.items()}
        inputs = (resample, None) if design == "chain" else (resample[["satisfaction"]], resample["y"].to_numpy())
        posteriors = refit.predict_proba(*inputs)
        zeros = np.zeros((len(refit.param_names_),) * 2)
        try:
            return latent_coefficients(refit, resample, posteriors, zeros, theta).estimate
        except (ValueError, np.linalg.LinAlgError):
            return np.full((refit.n_segments_, len(refit.coef_terms_)), np.nan)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reps = bootstrap_replicates(X, y, model, range(replicates), seed=seed, n_init=1, latent=latent)
    return latent_percentiles(reps)


def chain_paths(model, inference, latent):
    """Per path, the observed and corrected (estimates, standard errors) of every segment."""
    observed = model.effects(inference)
    corrected = chain_effects(model.equations_, "satisfaction", latent.terms, latent.param_names, latent.estimate,
                              latent.cov)
    out = {}
    for outcome, predictor in TRUTH["chain"]:
        label = f"{predictor} → {outcome}"
        pick = {name: frame.loc[(frame["kind"] == "path") & (frame["path"] == label)].sort_values("segment")
                for name, frame in (("observed", observed), ("corrected", corrected))}
        out[(outcome, predictor)] = {name: (f["estimate"].to_numpy(), f["std_error"].to_numpy())
                                     for name, f in pick.items()}
    return out


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """Per design, path, segment and kind: how often no interval was given (``no_interval``: the correction
    refused for a segment whose scores vary too little, or no standard error), and among the others the coverage,
    the median estimate and the rate of false ``drives`` verdicts (zero paths only)."""
    rows = rows.assign(interval=np.isfinite(rows["estimate"]) & np.isfinite(rows["std_error"]))
    keys = ["design", "n", "reliability", "path", "segment", "truth", "kind"]
    table = rows.groupby(keys, sort=True).agg(data_sets=("interval", "size"), no_interval=("interval",
                                                                                           lambda v: 1 - v.mean()))
    given = rows.loc[rows["interval"]].groupby(keys, sort=True).agg(
        coverage=("covered", "mean"), median_estimate=("estimate", "median"), false_drives=("drives", "mean"))
    table = table.join(given).reset_index()
    table.loc[table["truth"] != 0, "false_drives"] = np.nan
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--design", choices=["single", "chain"], default="single")
    parser.add_argument("--n", type=int, nargs="+", default=[300, 1000])
    parser.add_argument("--reliability", type=float, nargs="+", default=[0.7, 0.8, 0.9])
    parser.add_argument("--replications", type=int, default=100)
    parser.add_argument("--first", type=int, default=0, help="index of the first data set (to add data sets to a run)")
    parser.add_argument("--n-init", type=int, default=4)
    parser.add_argument("--rounded", action="store_true")
    parser.add_argument("--segments", type=int, choices=[2, 3], default=2)
    parser.add_argument("--out", default=None, help="CSV of every data set's rows")
    parser.add_argument("--bootstrap", type=int, default=0,
                        help="bootstrap refits per data set: percentile intervals of the corrected coefficients too")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = []
    for n in args.n:
        for reliability in args.reliability:
            for r in range(args.first, args.first + args.replications):
                for row in one_data_set(args.design, n, reliability, 1000 * n + r, args.n_init, args.rounded,
                                        args.segments, args.bootstrap):
                    rows.append({"design": f"{args.design} K={args.segments}", "n": n, "reliability": reliability,
                                 **row})
    frame = pd.DataFrame(rows)
    print(f"{frame.groupby(['n', 'reliability'])['seed'].nunique().sum()} data sets fitted with "
          f"{args.segments} segments")
    if args.out:
        frame.to_csv(args.out, index=False)
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(summarise(frame).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

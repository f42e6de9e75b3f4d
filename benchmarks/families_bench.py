"""Speed, memory and optimum of every outcome family at survey size, side by side with R flexmix (issue 12).

    python benchmarks/families_bench.py run [--n 100000] [--seeds 0 1] [--families ...] [--scenarios ...]
                                            [--n-init 10] [--with-r] [--r-n N] [--before SRC_DIR] [--resume]
    python benchmarks/families_bench.py report

``run`` simulates, per family, scenario and seed, a three-segment survey with
two predictors: ``sat``, one 7-point satisfaction item (integers 1..7, skewed
to the top as real ratings are) and ``z``, a continuous covariate (a
standardised tenure, say).  Within segment k the family's linear predictor is
``level_k + slope_k * (sat - 4) + zcoef_k * z`` (``level`` is the segment at
mid-scale); the outcome is drawn from the family:

* ``gaussian``: normal, SD ``sigma_k``;
* ``censored``: a 0-10 recommendation score, normal censored at 0 and 10;
* ``ordinal``: a 5-point item, cumulative logit with cuts -3, -1, 1, 3 on the
  latent scale (so the segment's thresholds are the cuts minus its intercept);
* ``binomial``: successes out of 1..10 trials (repurchases out of occasions);
* ``poisson``: a count without offset;
* ``poisson_offset``: a count over 1..24 months of exposure, offset log(months).

Scenarios (``SCENARIOS``): ``separated`` (three distinct lines, shares 50/30/20),
``crossing`` (a rising, a falling and a flat line that meet at mid-scale,
45/30/25) and ``small_segment`` (as separated, the rising segment 8 %).

Every fit, ``ClusterwiseRegression(n_segments=3, family=..., n_init=10,
random_state=seed)``, runs in a fresh process (single-threaded BLAS) that
reads the data from the CSV the R side reads too, and reports: seconds of
``fit`` alone, the process's peak resident memory and its rise during the fit,
the log-likelihood, the starts that reached the returned solution
(``n_best_starts_``), the log-likelihood at the true parameters, and the
log-likelihood of a fit started at the true parameters (``init_params``,
``n_init=0``): the optimum next to the truth.  A multi-start fit "found the
optimum" when it is at least that high (to 1e-6 relative, the engine's rule
for two equal optima).

``--with-r`` runs ``Rscript benchmarks/flexmix_families.R`` on the same CSV
for binomial and the two Poisson variants (``stepFlexmix(k = 3, nrep = 10)``,
``FLXMRglm``, flexmix's default controls) right after the trustseg fit, so both
see the same machine state; ``--r-n`` gives the side by side its own n (with
its own data and trustseg fit) when flexmix at ``--n`` would take too long.
``--before SRC_DIR`` also times the gaussian fits with an older engine, e.g.
``git archive 0e98ad0~1 src | tar -x -C /tmp/before`` gives ``/tmp/before/src``.

Rows go to ``benchmarks/results/families_bench.csv`` after every fit (with
``--resume`` rows already there are skipped); the Markdown tables go to
``benchmarks/results/families_bench.md`` and standard output.  The one-minute
load average before every fit is recorded beside it: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from bench_rows import code_version, load_rows, rss_mib, save_rows, versus_cells

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
DATA_DIR = Path("/tmp/families_bench")
K = 3

FAMILIES = ("gaussian", "censored", "ordinal", "binomial", "poisson", "poisson_offset")
#: the families flexmix fits (FLXMRglm); ours fits the others too, flexmix has no censored or ordinal mixture
R_FAMILIES = ("binomial", "poisson", "poisson_offset")
SCENARIOS = ("separated", "crossing", "small_segment")
SHARES = {"separated": [0.5, 0.3, 0.2], "crossing": [0.45, 0.30, 0.25], "small_segment": [0.08, 0.62, 0.30]}
ORDINAL_CUTS = np.array([-3.0, -1.0, 1.0, 3.0])
CENSORED_BOUNDS = (0.0, 10.0)

# Per family, the segments' level at sat = 4, slope per scale point and z coefficient, on the scale of the
# family's linear predictor, and the SD for the normal families.  small_segment uses the separated lines.
_SEPARATED = "separated"
LINES = {
    "gaussian": {
        _SEPARATED: {"level": [6.0, 4.0, 2.0], "slope": [0.9, 0.4, 0.0], "zcoef": [0.3, 0.0, -0.3],
                     "sigma": [0.6, 0.6, 0.6]},
        "crossing": {"level": [4.0, 4.2, 3.8], "slope": [0.8, -0.5, 0.1], "zcoef": [0.3, 0.0, -0.3],
                     "sigma": [0.9, 0.9, 0.9]},
    },
    "censored": {
        _SEPARATED: {"level": [8.0, 5.0, 2.0], "slope": [1.0, 0.5, 0.0], "zcoef": [0.5, 0.0, -0.5],
                     "sigma": [1.2, 1.2, 1.2]},
        "crossing": {"level": [5.0, 5.3, 4.8], "slope": [1.3, -1.0, 0.1], "zcoef": [0.5, 0.0, -0.5],
                     "sigma": [1.4, 1.4, 1.4]},
    },
    "ordinal": {
        _SEPARATED: {"level": [2.5, 0.0, -2.5], "slope": [1.2, 0.5, 0.0], "zcoef": [0.5, 0.0, -0.5]},
        "crossing": {"level": [0.2, 0.0, -0.2], "slope": [1.2, -1.0, 0.1], "zcoef": [0.5, 0.0, -0.5]},
    },
    "binomial": {
        _SEPARATED: {"level": [1.5, 0.0, -1.5], "slope": [0.6, 0.25, 0.0], "zcoef": [0.3, 0.0, -0.3]},
        "crossing": {"level": [0.1, 0.0, -0.1], "slope": [0.7, -0.5, 0.05], "zcoef": [0.3, 0.0, -0.3]},
    },
    "poisson": {
        _SEPARATED: {"level": [1.5, 0.5, -0.5], "slope": [0.3, 0.12, 0.0], "zcoef": [0.15, 0.0, -0.15]},
        "crossing": {"level": [0.6, 0.5, 0.4], "slope": [0.35, -0.25, 0.02], "zcoef": [0.15, 0.0, -0.15]},
    },
}
# a rate per month: the same counts as poisson over the mean exposure of 12.5 months
LINES["poisson_offset"] = {
    name: {**lines, "level": [v - np.log(12.5) for v in lines["level"]]} for name, lines in LINES["poisson"].items()
}


def family_spec(family):
    """The estimator's ``family`` and ``family_options`` for one of :data:`FAMILIES`."""
    if family == "censored":
        return "censored", {"lower": CENSORED_BOUNDS[0], "upper": CENSORED_BOUNDS[1]}
    if family == "ordinal":
        return "ordinal", {"categories": [1.0, 2.0, 3.0, 4.0, 5.0]}
    if family == "poisson_offset":
        return "poisson", None
    return family, None


def truth(family, scenario):
    """True parameters in the family layout: weights (K,), beta (K, q) (intercept first but ordinal), extra (K, m)."""
    lines = LINES[family]["separated" if scenario == "small_segment" else scenario]
    level, slope, zcoef = (np.asarray(lines[key], dtype=float) for key in ("level", "slope", "zcoef"))
    intercept = level - 4.0 * slope
    if family == "ordinal":
        # logit P(Y <= j) = cut_j - (intercept + x'b) = theta_j - x'b with theta_j = cut_j - intercept
        beta = np.column_stack([slope, zcoef])
        extra = ORDINAL_CUTS[None, :] - intercept[:, None]
    else:
        beta = np.column_stack([intercept, slope, zcoef])
        extra = np.log(np.asarray(lines["sigma"], dtype=float))[:, None] if "sigma" in lines else np.empty((K, 0))
    return {"weights": list(SHARES[scenario]), "beta": beta.tolist(), "extra": extra.tolist()}


def simulate(family, scenario, n, seed):
    """The survey as a DataFrame: sat, z, y, and trials / offset where the family has them."""
    rng = np.random.default_rng([seed, zlib.crc32(f"{family}/{scenario}".encode())])
    params = truth(family, scenario)
    labels = rng.choice(K, size=n, p=params["weights"])
    sat = np.clip(np.rint(rng.normal(4.5, 1.3, n) + rng.normal(0.0, 0.8, n)), 1, 7)
    z = rng.normal(size=n)
    beta = np.asarray(params["beta"])[labels]
    extra = np.asarray(params["extra"])[labels]
    frame = pd.DataFrame({"sat": sat, "z": z})
    if family == "ordinal":
        latent = beta[:, 0] * sat + beta[:, 1] * z + rng.logistic(size=n)
        # category j + 1 where theta_{j} < latent <= theta_{j+1}, per respondent's own thresholds
        frame["y"] = 1.0 + (latent[:, None] > extra).sum(axis=1)
        return frame
    eta = beta[:, 0] + beta[:, 1] * sat + beta[:, 2] * z
    if family == "gaussian":
        frame["y"] = eta + np.exp(extra[:, 0]) * rng.normal(size=n)
    elif family == "censored":
        frame["y"] = np.clip(eta + np.exp(extra[:, 0]) * rng.normal(size=n), *CENSORED_BOUNDS)
    elif family == "binomial":
        trials = rng.integers(1, 11, size=n).astype(float)
        frame["y"] = rng.binomial(trials.astype(int), 1.0 / (1.0 + np.exp(-eta))).astype(float)
        frame["trials"] = trials
    elif family == "poisson":
        frame["y"] = rng.poisson(np.exp(eta)).astype(float)
    elif family == "poisson_offset":
        offset = np.log(rng.uniform(1.0, 24.0, size=n))
        frame["y"] = rng.poisson(np.exp(eta + offset)).astype(float)
        frame["offset"] = offset
    return frame


def write_data(family, scenario, n, seed):
    """Write the survey's CSV (full precision, read by both sides) and its truth JSON; return the CSV path."""
    path = DATA_DIR / f"{family}_{scenario}_n{n}_s{seed}.csv"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        simulate(family, scenario, n, seed).to_csv(path, index=False, float_format="%.17g")
        path.with_suffix(".json").write_text(json.dumps(truth(family, scenario)))
    return path


# ----------------------------------------------------------------------------
# one fit, in its own process
# ----------------------------------------------------------------------------



def fit_child(src, csv, family, n_init, seed, with_truth):
    """Fit one survey (in a fresh process); a dict of the measurements."""
    sys.path.insert(0, str(src))
    from scipy.special import logsumexp

    from trustseg import ClusterwiseRegression

    frame = pd.read_csv(csv)
    params = json.loads(Path(csv).with_suffix(".json").read_text())
    X, y = frame[["sat", "z"]], frame["y"]
    name, options = family_spec(family)
    family_data = {key: frame[key].to_numpy() for key in ("trials", "offset") if key in frame}
    kwargs = {"family": name, "family_options": options} if name != "gaussian" else {}
    fit_kwargs = {"family_data": family_data} if family_data else {}
    rss_before = rss_mib()
    started = time.perf_counter()
    model = ClusterwiseRegression(n_segments=K, n_init=n_init, random_state=seed, **kwargs).fit(X, y, **fit_kwargs)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    record = {
        "seconds": seconds, "peak_rss_mib": peak, "fit_rss_mib": peak - rss_before, "loglik": float(model.loglik_),
        "n_best_starts": int(model.n_best_starts_), "n_starts": len(model.start_logliks_),
        "optimum_replicated": bool(model.optimum_replicated_),
        "n_refined": int(np.sum(getattr(model, "start_refined_", np.ones(len(model.start_logliks_), dtype=bool)))),
        "n_segments_fitted": int(model.n_segments_), "converged": bool(model.converged_),
        "n_iter": int(model.n_iter_),
        "failed_starts": int(sum(reason == "failed" for reason in model.start_stop_reasons_)),
        "best_start_kind": model.start_kinds_[model.best_start_],
        # which kinds of start reach the solution (random partitions and k-means alternate in the family path)
        "at_best_by_kind": " ".join(
            f"{kind}:{sum(hit for k, hit in zip(model.start_kinds_, model.start_reached_best_) if k == kind)}/"
            f"{model.start_kinds_.count(kind)}" for kind in dict.fromkeys(model.start_kinds_)
        ),
        "start_seconds": " ".join(f"{s:.1f}" for s in getattr(model, "start_seconds_", [])),
    }
    if with_truth:
        from trustseg.model.families import make_family
        from trustseg.model.likelihood import log_joint
        from trustseg.model.params import MixtureParams

        family_object = make_family(name, **{key: tuple(v) if isinstance(v, list) else v
                                             for key, v in (options or {}).items()})
        true = MixtureParams(*(np.asarray(params[key], dtype=float) for key in ("weights", "beta", "extra")))
        joint = log_joint(family_object, family_object.design(X.to_numpy()), y.to_numpy(), true,
                          family_object.prepare(y.to_numpy(), family_data or None))
        record["loglik_at_truth"] = float(logsumexp(joint, axis=1).sum())
        if name == "gaussian":
            beta = true.beta
            start = {"intercept": beta[:, 0], "coef": beta[:, 1:], "sigma": np.exp(true.extra[:, 0]),
                     "weights": true.weights}
        else:
            start = true._asdict()
        started = time.perf_counter()
        at_truth = ClusterwiseRegression(n_segments=K, n_init=0, random_state=seed, init_params=start,
                                         **kwargs).fit(X, y, **fit_kwargs)
        record["truth_start_seconds"] = time.perf_counter() - started
        record["truth_start_loglik"] = float(at_truth.loglik_)
    return record


def run_child(src, csv, family, n_init, seed, with_truth):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, str(Path(__file__).resolve()), "_fit", str(src), str(csv), family, str(n_init),
               str(seed)] + (["--truth"] if with_truth else [])
    out = subprocess.run(command, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_flexmix(csv, family, nrep, seed):
    """``flexmix_families.R`` on the CSV: seconds of stepFlexmix alone, loglik, k, iterations, converged."""
    command = ["Rscript", str(HERE / "flexmix_families.R"), str(csv), family, str(K), str(nrep), str(seed)]
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1]}
    values = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    return {"seconds": float(values["seconds"]), "loglik": float(values["loglik"]),
            "n_segments_fitted": int(values["k_fitted"]), "n_iter": int(values["iter"]),
            "converged": values["converged"] == "TRUE", "flexmix": values["flexmix"]}


# ----------------------------------------------------------------------------
# driver and report
# ----------------------------------------------------------------------------

KEY = ["engine", "family", "scenario", "seed", "n"]




def run(args):
    csv_path = RESULTS / "families_bench.csv"
    rows = load_rows(csv_path) if args.resume else []
    done = {tuple(row[k] for k in KEY) for row in rows}
    current = ROOT / "src"
    before_label = f"before ({args.before_label})"
    print(f"uptime at start: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}",
          file=sys.stderr)

    def measure(engine, family, scenario, seed, n, work):
        if (engine, family, scenario, seed, n) in done:
            return
        load = os.getloadavg()[0]
        code = code_version(ROOT) if engine == "trustseg" else None
        record = work()
        row = {"engine": engine, "family": family, "scenario": scenario, "seed": seed, "n": n,
               "n_init": args.n_init, "load1": round(load, 2), "code": code, **record}
        rows.append(row)
        save_rows(rows, csv_path)
        print(json.dumps(row), file=sys.stderr, flush=True)

    for family in args.families:
        for scenario in args.scenarios:
            for seed in args.seeds:
                csv = write_data(family, scenario, args.n, seed)
                measure("trustseg", family, scenario, seed, args.n,
                        lambda c=csv, f=family, s=seed: run_child(current, c, f, args.n_init, s, True))
                if family == "gaussian" and args.before:
                    measure(before_label, family, scenario, seed, args.n,
                            lambda c=csv, s=seed: run_child(args.before, c, "gaussian", args.n_init, s, False))
                if args.with_r and family in R_FAMILIES:
                    r_n = args.r_n or args.n
                    r_csv = csv if r_n == args.n else write_data(family, scenario, r_n, seed)
                    if r_n != args.n:
                        measure("trustseg", family, scenario, seed, r_n,
                                lambda c=r_csv, f=family, s=seed: run_child(current, c, f, args.n_init, s, True))
                    measure("flexmix", family, scenario, seed, r_n,
                            lambda c=r_csv, f=family, s=seed: run_flexmix(c, f, args.n_init, s))
    print(f"uptime at end: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}",
          file=sys.stderr)
    report(args)


def _fmt(value, spec):
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else format(value, spec)


def _rerun(row):
    """' (2 rerun)' when the fit searched a subsample and reran only some starts on everyone."""
    refined = getattr(row, "n_refined", np.nan)
    return "" if pd.isna(refined) or refined == row.n_starts else f" ({refined:.0f} rerun)"


def report(args):
    frame = pd.DataFrame(load_rows(RESULTS / "families_bench.csv"))
    lines = []
    ours = frame[frame["engine"] == "trustseg"]
    lines += [
        "Each fit: `ClusterwiseRegression(n_segments=3, family=..., n_init=10, random_state=seed)`; gap = the fit's "
        "log-likelihood minus that of the fit started at the true parameters (>= 0: the optimum next to the truth "
        "was found); starts = starts at the returned solution.",
        "",
        "| family | scenario | n | seed | seconds | peak MiB (rise in fit) | log-likelihood | gap to truth start | "
        "at truth | starts at best (rerun on all) | load |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in ours.itertuples():
        if isinstance(getattr(row, "error", None), str):
            lines.append(f"| {row.family} | {row.scenario} | {row.n:,} | {row.seed} | failed: {row.error} |"
                         " | | | | | |")
            continue
        # below rounding of the table (the two fits end at one optimum): no sign
        gap = row.loglik - row.truth_start_loglik if abs(row.loglik - row.truth_start_loglik) >= 0.005 else 0.0
        lines.append(
            f"| {row.family} | {row.scenario} | {row.n:,} | {row.seed} | {row.seconds:.1f} | "
            f"{row.peak_rss_mib:.0f} ({row.fit_rss_mib:.0f}) | {row.loglik:,.2f} | {gap:+.2f} | "
            f"{row.loglik_at_truth:,.2f} | {row.n_best_starts:.0f}/{row.n_starts:.0f}{_rerun(row)} | {row.load1:.1f} |"
        )
    largest = ours[ours["n"] == ours["n"].max()]
    summary = largest.groupby("family", sort=False).agg(
        fits=("seconds", "size"), median_s=("seconds", "median"), max_s=("seconds", "max"),
        peak=("peak_rss_mib", "max"),
    )
    lines += ["", f"At n = {ours['n'].max():,}:", "", "| family | fits | median seconds | slowest | peak MiB |",
              "|---|---:|---:|---:|---:|"]
    for family, s in summary.iterrows():
        lines.append(f"| {family} | {s.fits:.0f} | {s.median_s:.1f} | {s.max_s:.1f} | {s.peak:.0f} |")

    flexmix = frame[frame["engine"] == "flexmix"]
    if len(flexmix):
        lines += [
            "", "Side by side with flexmix (`stepFlexmix(k = 3, nrep = 10)`, `FLXMRglm`, default controls); "
            "difference = trustseg minus flexmix log-likelihood.", "",
            "| family | scenario | n | seed | trustseg s | flexmix s | flexmix / trustseg | trustseg loglik | "
            "flexmix loglik | difference | flexmix K, iterations | load (trustseg, flexmix) |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in flexmix.itertuples():
            mine = ours[(ours.family == row.family) & (ours.scenario == row.scenario) & (ours.seed == row.seed)
                        & (ours.n == row.n)]
            if isinstance(getattr(row, "error", None), str) or mine.empty:
                lines.append(f"| {row.family} | {row.scenario} | {row.n:,} | {row.seed} | failed: "
                             f"{getattr(row, 'error', 'no trustseg row')} | | | | | | | |")
                continue
            m = mine.iloc[0]
            lines.append(
                f"| {row.family} | {row.scenario} | {row.n:,} | {row.seed} | {versus_cells(m, row)} | "
                f"{int(row.n_segments_fitted)}, {int(row.n_iter)}{'' if row.converged else ' (not converged)'} | "
                f"{m.load1:.1f}, {row.load1:.1f} |"
            )

    before = frame[frame["engine"].str.startswith("before")]
    if len(before):
        lines += ["", "Gaussian: the engine now against the engine before the family wiring (same data, same seeds).",
                  "", "| scenario | seed | engine | seconds | log-likelihood | starts |",
                  "|---|---:|---|---:|---:|---:|"]
        gaussian = frame[(frame.family == "gaussian") & frame.engine.isin(["trustseg", *before.engine.unique()])]
        for row in gaussian.sort_values(["scenario", "seed", "engine"]).itertuples():
            lines.append(f"| {row.scenario} | {row.seed} | {row.engine} | {row.seconds:.2f} | {row.loglik:,.4f} | "
                         f"{row.n_best_starts:.0f}/{row.n_starts:.0f} |")
    text = "\n".join(lines) + "\n"
    (RESULTS / "families_bench.md").write_text(text)
    print(text)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_fit":
        src, csv, family, n_init, seed = argv[1:6]
        print(json.dumps(fit_child(src, csv, family, int(n_init), int(seed), "--truth" in argv)))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="fit and record")
    run_parser.add_argument("--n", type=int, default=100_000)
    run_parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    run_parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    run_parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    run_parser.add_argument("--n-init", type=int, default=10)
    run_parser.add_argument("--with-r", action="store_true", help="flexmix side by side for binomial and poisson")
    run_parser.add_argument("--r-n", type=int, help="respondents of the side by side (default: --n)")
    run_parser.add_argument("--before", help="src folder of an older engine, timed on the gaussian fits")
    run_parser.add_argument("--before-label", default="0e98ad0~1", help="what --before is, for the tables")
    run_parser.add_argument("--resume", action="store_true", help="keep the rows already recorded, skip them")
    commands.add_parser("report", help="the Markdown tables from the recorded rows")
    args = parser.parse_args(argv)
    run(args) if args.command == "run" else report(args)


if __name__ == "__main__":
    main()

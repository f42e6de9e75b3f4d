"""Chains of equations sharing the segments at survey size, side by side with R flexmix (issue 13).

    python benchmarks/chain_bench.py run [--n 100000] [--seeds 0 1] [--scenarios ...] [--n-init 10]
                                         [--with-r] [--r-timeout 2400] [--no-chain]
                                         [--one-eq-before SRC_DIR] [--one-eq-label 7209d3d] [--one-eq-repeats 2]
                                         [--resume]
    python benchmarks/chain_bench.py report

The issue's requirement: "a chain of two equations, K = 3, 100,000
respondents, 10 starts: at least 20x faster than flexmix's stepFlexmix side
by side in one run, with a log-likelihood at least flexmix's; one equation
no slower than today."

``run`` simulates, per scenario and seed, a three-segment survey with the
trust chain ``trust ~ sat`` and ``rep ~ sat + trust`` (repurchase intention):

* ``sat`` is the mean of three 1-7 items (values on a 1/3 grid), skewed to
  the top as real ratings are: the items are a respondent's level
  N(5.1, 1.0) plus item noise N(0, 0.9), rounded and clipped to 1..7;
* within segment k, ``trust = a_k + b_k sat + e1`` and ``rep = c_k + d_k sat
  + g_k trust + e2``, e1 and e2 independent normals with the segment's SDs
  (the model fitted, so the true parameters are the model's; trust and rep
  are continuous scores).

Scenarios (``SCENARIOS``), lines given at the mid-scale point sat = trust = 4:

* ``separated`` (shares 45/35/20): a trust-building segment (sat -> trust ->
  rep: trust slope 0.9, rep on trust 0.7, on sat 0.2), a satisfied-without-
  trust segment (trust flat at 3, rep follows sat directly, slope 0.8) and a
  loyal-regardless segment (trust flat at 5.5, rep flat at 6.2);
* ``crossing`` (40/35/25): weakly separated lines that cross at mid-scale,
  SDs 0.9 (trust slopes 0.7, -0.3, 0.1; rep on sat 0.3, 0.6, -0.3 and on
  trust 0.5, -0.2, 0.1; levels within 0.5 of each other);
* ``small_segment``: the separated lines, the trust-building segment 8 %
  (8/62/30).

Every trustseg fit, ``ChainRegression(equations=[("trust", ["sat"]), ("rep",
["sat", "trust"])], n_segments=3, n_init=10, random_state=seed)``, runs in a
fresh process (single-threaded BLAS) that reads the data from the CSV the R
side reads too, and reports: seconds of ``fit`` alone, the process's peak
resident memory and its rise during the fit, the log-likelihood, the starts
that reached the returned solution (``n_best_starts_``, and per kind of
start), each start's seconds, the log-likelihood at the true parameters and
that of a fit started at the true parameters (``init_params``, ``n_init=0``):
the optimum next to the truth.  A multi-start fit "found the optimum" when it
is at least that high (to 1e-6 relative, the engine's rule for two equal
optima).

``--with-r`` runs ``Rscript benchmarks/flexmix_chain.R`` on the same CSV right
after the trustseg fit (``stepFlexmix(~1, k = 3, nrep = 10, model =
list(FLXMRglm(trust ~ sat), FLXMRglm(rep ~ sat + trust)))``, flexmix's default
controls), killed after ``--r-timeout`` seconds (the row then says so).

``--one-eq-before SRC_DIR`` times one equation, ``ClusterwiseRegression(
n_segments=3, n_init=10, random_state=seed).fit(df[["sat"]], df["rep"])``
(gaussian, the default engine), with the checkout's engine and with the one
in SRC_DIR, alternating, ``--one-eq-repeats`` times each; e.g.
``git archive 7209d3d src | tar -x -C /tmp/before_chain`` gives
``/tmp/before_chain/src``.  ``--no-chain`` skips the chain fits (for a run of
the one-equation timings only).

Rows go to ``benchmarks/results/chain_bench.csv`` after every fit (with
``--resume`` rows already there are skipped); the Markdown tables go to
``benchmarks/results/chain_bench.md`` and standard output.  The one-minute
load average before every fit and the commit measured are recorded beside
it: the machine is shared.
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
CSV = RESULTS / "chain_bench.csv"
DATA_DIR = Path("/tmp/chain_bench")
K = 3
EQUATIONS = [("trust", ["sat"]), ("rep", ["sat", "trust"])]
#: coef_ columns of the chain, in the engine's order
TERMS = ["trust~(Intercept)", "trust~sat", "rep~(Intercept)", "rep~sat", "rep~trust"]
SCENARIOS = ("separated", "crossing", "small_segment")
SHARES = {"separated": [0.45, 0.35, 0.20], "crossing": [0.40, 0.35, 0.25], "small_segment": [0.08, 0.62, 0.30]}
MID = 4.0  # lines are given at sat = trust = MID

# Per scenario and segment: trust's level at sat = 4 and slope, rep's level at sat = trust = 4 and its slopes on
# sat and trust, the two SDs.  small_segment uses the separated lines.
LINES = {
    "separated": {
        "trust_level": [4.0, 3.0, 5.5], "trust_sat": [0.9, 0.0, 0.0], "trust_sigma": [0.6, 0.8, 0.6],
        "rep_level": [4.0, 4.5, 6.2], "rep_sat": [0.2, 0.8, 0.0], "rep_trust": [0.7, 0.0, 0.0],
        "rep_sigma": [0.6, 0.6, 0.5],
    },
    "crossing": {
        "trust_level": [4.2, 4.0, 3.8], "trust_sat": [0.7, -0.3, 0.1], "trust_sigma": [0.9, 0.9, 0.9],
        "rep_level": [4.3, 4.0, 4.1], "rep_sat": [0.3, 0.6, -0.3], "rep_trust": [0.5, -0.2, 0.1],
        "rep_sigma": [0.9, 0.9, 0.9],
    },
}


def truth(scenario):
    """True parameters in the chain's layout: weights (K,), beta (K, 5) in TERMS order, extra (K, 2) log sigmas."""
    lines = {key: np.asarray(v, dtype=float)
             for key, v in LINES["separated" if scenario == "small_segment" else scenario].items()}
    trust_intercept = lines["trust_level"] - MID * lines["trust_sat"]
    rep_intercept = lines["rep_level"] - MID * (lines["rep_sat"] + lines["rep_trust"])
    beta = np.column_stack([trust_intercept, lines["trust_sat"], rep_intercept, lines["rep_sat"], lines["rep_trust"]])
    extra = np.log(np.column_stack([lines["trust_sigma"], lines["rep_sigma"]]))
    return {"weights": list(SHARES[scenario]), "beta": beta.tolist(), "extra": extra.tolist()}


def likert_mean(rng, n, items=3):
    """Mean of ``items`` 1-7 items sharing a respondent's level (skewed to the top), on a 1/items grid."""
    level = rng.normal(5.1, 1.0, n)
    return np.clip(np.rint(level[:, None] + rng.normal(0.0, 0.9, (n, items))), 1, 7).mean(axis=1)


def simulate(scenario, n, seed):
    """The survey as a DataFrame: sat, trust, rep, and the true segment."""
    rng = np.random.default_rng([seed, zlib.crc32(f"chain/{scenario}".encode())])
    params = truth(scenario)
    labels = rng.choice(K, size=n, p=params["weights"])
    beta, sigma = np.asarray(params["beta"])[labels], np.exp(np.asarray(params["extra"]))[labels]
    sat = likert_mean(rng, n)
    trust = beta[:, 0] + beta[:, 1] * sat + sigma[:, 0] * rng.normal(size=n)
    rep = beta[:, 2] + beta[:, 3] * sat + beta[:, 4] * trust + sigma[:, 1] * rng.normal(size=n)
    return pd.DataFrame({"sat": sat, "trust": trust, "rep": rep, "segment": labels})


def write_data(scenario, n, seed):
    """Write the survey's CSV (full precision, read by both sides) and its truth JSON; return the CSV path."""
    path = DATA_DIR / f"chain_{scenario}_n{n}_s{seed}.csv"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        simulate(scenario, n, seed).to_csv(path, index=False, float_format="%.17g")
        path.with_suffix(".json").write_text(json.dumps(truth(scenario)))
    return path


def mixture_loglik(frame, params):
    """The chain mixture's log-likelihood at ``params`` (weights, beta, extra), computed directly."""
    from scipy.special import logsumexp
    from scipy.stats import norm

    weights, beta, extra = (np.asarray(params[key], dtype=float) for key in ("weights", "beta", "extra"))
    sat, trust, rep = (frame[c].to_numpy() for c in ("sat", "trust", "rep"))
    joint = np.column_stack([
        np.log(weights[k])
        + norm.logpdf(trust, beta[k, 0] + beta[k, 1] * sat, np.exp(extra[k, 0]))
        + norm.logpdf(rep, beta[k, 2] + beta[k, 3] * sat + beta[k, 4] * trust, np.exp(extra[k, 1]))
        for k in range(len(weights))
    ])
    return float(logsumexp(joint, axis=1).sum())


# ----------------------------------------------------------------------------
# one fit, in its own process
# ----------------------------------------------------------------------------



def chain_child(csv, n_init, seed, with_truth):
    """Fit the chain on one survey (in a fresh process); a dict of the measurements."""
    from trustseg.model.chain import ChainRegression

    frame = pd.read_csv(csv)[["sat", "trust", "rep"]]
    params = json.loads(Path(csv).with_suffix(".json").read_text())
    rss_before = rss_mib()
    started = time.perf_counter()
    model = ChainRegression(equations=EQUATIONS, n_segments=K, n_init=n_init, random_state=seed).fit(frame)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert [str(t) for t in model.feature_names_in_] == TERMS, model.feature_names_in_
    record = {
        "seconds": seconds, "peak_rss_mib": peak, "fit_rss_mib": peak - rss_before, "loglik": float(model.loglik_),
        "n_best_starts": int(model.n_best_starts_), "n_starts": len(model.start_logliks_),
        "optimum_replicated": bool(model.optimum_replicated_),
        "n_refined": int(np.sum(model.start_refined_)),
        "n_segments_fitted": int(model.n_segments_), "converged": bool(model.converged_),
        "n_iter": int(model.n_iter_),
        "failed_starts": int(sum(reason == "failed" for reason in model.start_stop_reasons_)),
        "best_start_kind": model.start_kinds_[model.best_start_],
        "at_best_by_kind": " ".join(
            f"{kind}:{sum(hit for k, hit in zip(model.start_kinds_, model.start_reached_best_) if k == kind)}/"
            f"{model.start_kinds_.count(kind)}" for kind in dict.fromkeys(model.start_kinds_)
        ),
        "start_kinds": " ".join(model.start_kinds_),
        "start_seconds": " ".join(f"{s:.2f}" for s in model.start_seconds_),
        "start_logliks": " ".join(f"{s:.2f}" for s in model.start_logliks_),
        "weights": " ".join(f"{w:.4f}" for w in model.weights_),
        "coef": json.dumps(np.round(model.coef_, 4).tolist()),
        "sigma": json.dumps(np.round(np.exp(model.extra_), 4).tolist()),
    }
    if with_truth:
        record["loglik_at_truth"] = mixture_loglik(frame, params)
        started = time.perf_counter()
        at_truth = ChainRegression(equations=EQUATIONS, n_segments=K, n_init=0, random_state=seed,
                                   init_params=params).fit(frame)
        record["truth_start_seconds"] = time.perf_counter() - started
        record["truth_start_loglik"] = float(at_truth.loglik_)
    return record


def one_equation_child(src, csv, n_init, seed):
    """One equation, rep ~ sat, with the engine in ``src``: the default gaussian path."""
    sys.path.insert(0, str(src))
    import trustseg
    from trustseg import ClusterwiseRegression

    frame = pd.read_csv(csv)
    rss_before = rss_mib()
    started = time.perf_counter()
    model = ClusterwiseRegression(n_segments=K, n_init=n_init, random_state=seed).fit(frame[["sat"]], frame["rep"])
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "peak_rss_mib": peak, "fit_rss_mib": peak - rss_before,
            "loglik": float(model.loglik_), "n_best_starts": int(model.n_best_starts_),
            "n_starts": len(model.start_logliks_), "n_segments_fitted": int(model.n_segments_),
            "converged": bool(model.converged_), "engine_file": trustseg.__file__}


def _child_env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PYTHONWARNINGS": "ignore"}


def run_child(arguments):
    command = [sys.executable, str(Path(__file__).resolve()), *map(str, arguments)]
    out = subprocess.run(command, capture_output=True, text=True, env=_child_env())
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_flexmix(csv, nrep, seed, timeout):
    """``flexmix_chain.R`` on the CSV: seconds of stepFlexmix alone, loglik, every start's, k, iterations."""
    command = ["Rscript", str(HERE / "flexmix_chain.R"), str(csv), str(K), str(nrep), str(seed)]
    started = time.perf_counter()
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                             env={**_child_env(), "OMP_NUM_THREADS": "1"})
    except subprocess.TimeoutExpired:
        return {"error": f"timeout: stopped after {timeout} s", "seconds": time.perf_counter() - started,
                "timed_out": True}
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1]}
    values = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    logliks = np.array([float(v) for v in values["logliks"].split()])
    best = float(values["loglik"])
    return {"seconds": float(values["seconds"]), "loglik": best,
            "loglik_at_parameters": float(values["loglik_at_parameters"]),
            "n_best_starts": int(np.sum(best - logliks <= 1e-6 * abs(best))), "n_starts": len(logliks),
            "start_logliks": " ".join(f"{v:.2f}" for v in logliks),
            "n_segments_fitted": int(values["k_fitted"]), "n_iter": int(values["iter"]),
            "converged": values["converged"] == "TRUE", "weights": values["prior"],
            "flexmix": values["flexmix"], "peak_rss_mib": float(values["peak_rss_mib"])}


# ----------------------------------------------------------------------------
# driver and report
# ----------------------------------------------------------------------------

KEY = ["engine", "scenario", "seed", "n", "repeat"]




def dirty_src():
    """The files of src/ that differ from the commit (the rows say which; "+dirty" alone does not)."""
    out = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"], capture_output=True,
                         text=True).stdout
    return " ".join(line[3:] for line in out.splitlines())


def _uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def run(args):
    rows = load_rows(CSV) if args.resume else []
    done = {tuple(row[k] for k in KEY) for row in rows}
    print(f"uptime at start: {_uptime()}", file=sys.stderr)
    head = "HEAD"  # the checkout, its commit read when the row is measured

    def measure(engine, scenario, seed, n, work, repeat=0, code=head):
        if (engine, scenario, seed, n, repeat) in done:
            return
        load = os.getloadavg()[0]
        dirty = None
        if code == head:
            code, dirty = code_version(ROOT), dirty_src() or None
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        record = work()
        row = {"engine": engine, "scenario": scenario, "seed": seed, "n": n, "repeat": repeat,
               "n_init": args.n_init, "load1": round(load, 2), "load1_after": round(os.getloadavg()[0], 2),
               "code": code, "dirty_src": dirty, "started": started, **record}
        rows.append(row)
        save_rows(rows, CSV)
        print(json.dumps(row), file=sys.stderr, flush=True)

    for scenario in args.scenarios:
        for seed in args.seeds:
            csv = write_data(scenario, args.n, seed)
            if not args.no_chain:
                measure("trustseg", scenario, seed, args.n,
                        lambda c=csv, s=seed: run_child(["_chain", c, args.n_init, s, "--truth"]))
                if args.with_r:
                    measure("flexmix", scenario, seed, args.n,
                            lambda c=csv, s=seed: run_flexmix(c, args.n_init, s, args.r_timeout), code=None)
            if args.one_eq_before:
                for repeat in range(args.one_eq_repeats):
                    pair = [("one equation, now", ROOT / "src", head),
                            (f"one equation, before ({args.one_eq_label})", args.one_eq_before, args.one_eq_label)]
                    for engine, src, code in (pair if repeat % 2 == 0 else pair[::-1]):
                        measure(engine, scenario, seed, args.n,
                                lambda c=csv, s=seed, src=src: run_child(["_one", src, c, args.n_init, s]),
                                repeat=repeat, code=code)
    print(f"uptime at end: {_uptime()}", file=sys.stderr)
    report(args)


def _failed(row):
    return isinstance(getattr(row, "error", None), str)


def report(args=None):
    frame = pd.DataFrame(load_rows(CSV))
    lines = []
    ours = frame[frame["engine"] == "trustseg"]
    flexmix = frame[frame["engine"] == "flexmix"]
    lines += [
        "Each trustseg fit: `ChainRegression(equations=[(\"trust\", [\"sat\"]), (\"rep\", [\"sat\", \"trust\"])], "
        "n_segments=3, n_init=10, random_state=seed)`; gap = the fit's log-likelihood minus that of the fit started "
        "at the true parameters (>= 0: the optimum next to the truth was found); starts = starts at the returned "
        "solution. flexmix: `stepFlexmix(~1, k = 3, nrep = 10, model = list(FLXMRglm(trust ~ sat), "
        "FLXMRglm(rep ~ sat + trust)))`, its starts at best within 1e-6 relative of its best.",
        "",
        "| engine | scenario | n | seed | seconds | peak MiB (rise in fit) | log-likelihood | gap to truth start | "
        "at truth | starts at best | K fitted | load |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    truth_start = {(r.scenario, r.seed, r.n): r.truth_start_loglik for r in ours.itertuples() if not _failed(r)}
    at_truth = {(r.scenario, r.seed, r.n): r.loglik_at_truth for r in ours.itertuples() if not _failed(r)}
    chain = pd.concat([ours, flexmix]).sort_values(["n", "scenario", "seed", "engine"], ascending=[False, True, True,
                                                                                                  False])
    for row in chain.itertuples():
        if _failed(row):
            spent = f" after {row.seconds:.0f} s" if pd.notna(getattr(row, "seconds", np.nan)) else ""
            lines.append(f"| {row.engine} | {row.scenario} | {row.n:,} | {row.seed} | failed{spent}: {row.error} |"
                         + " |" * 6 + f" {row.load1:.1f} |")
            continue
        key = (row.scenario, row.seed, row.n)
        reference = truth_start.get(key, np.nan)
        gap = row.loglik - reference
        gap = 0.0 if abs(gap) < 0.005 else gap  # below rounding of the table: one optimum
        rise = f" ({row.fit_rss_mib:.0f})" if pd.notna(getattr(row, "fit_rss_mib", np.nan)) else ""
        lines.append(
            f"| {row.engine} | {row.scenario} | {row.n:,} | {row.seed} | {row.seconds:.1f} | "
            f"{row.peak_rss_mib:.0f}{rise} | {row.loglik:,.2f} | {gap:+.2f} | {at_truth.get(key, np.nan):,.2f} | "
            f"{row.n_best_starts:.0f}/{row.n_starts:.0f} | {row.n_segments_fitted:.0f} | {row.load1:.1f} |"
        )

    if len(flexmix):
        lines += [
            "", "Side by side (each flexmix fit right after the trustseg fit on the same CSV); difference = trustseg "
            "minus flexmix log-likelihood; flexmix at its parameters = the log-likelihood recomputed at flexmix's "
            "stored prior and components.", "",
            "| scenario | n | seed | trustseg s | flexmix s | flexmix / trustseg | trustseg loglik | flexmix loglik | "
            "difference | flexmix at its parameters | flexmix iterations | load (trustseg, flexmix) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in flexmix.sort_values(["n", "scenario", "seed"], ascending=[False, True, True]).itertuples():
            mine = ours[(ours.scenario == row.scenario) & (ours.seed == row.seed) & (ours.n == row.n)]
            if mine.empty:
                continue
            m = mine.iloc[0]
            if _failed(row):
                lines.append(f"| {row.scenario} | {row.n:,} | {row.seed} | {m.seconds:.1f} | > {row.seconds:.0f} "
                             f"({row.error}) | > {row.seconds / m.seconds:.0f}× | {m.loglik:,.2f} | | | | | "
                             f"{m.load1:.1f}, {row.load1:.1f} |")
                continue
            lines.append(
                f"| {row.scenario} | {row.n:,} | {row.seed} | {versus_cells(m, row)} | "
                f"{row.loglik_at_parameters:,.2f} | {int(row.n_iter)}{'' if row.converged else ' (not converged)'} | "
                f"{m.load1:.1f}, {row.load1:.1f} |"
            )

    one = frame[frame["engine"].str.startswith("one equation")]
    if len(one):
        lines += ["", "One equation, `ClusterwiseRegression(n_segments=3, n_init=10, random_state=seed).fit("
                  "df[[\"sat\"]], df[\"rep\"])`, the engine now against the engine before the chain work "
                  "(alternating, same data).", "",
                  "| scenario | n | seed | engine | seconds (each run) | log-likelihood | starts at best | "
                  "peak MiB | load |", "|---|---:|---:|---|---:|---:|---:|---:|---:|"]
        for (scenario, n, seed, engine), group in one.groupby(["scenario", "n", "seed", "engine"], sort=True):
            g = group.sort_values("repeat")
            logliks = sorted(set(g.loglik.round(4)))
            lines.append(f"| {scenario} | {n:,} | {seed} | {engine} | "
                         f"{', '.join(f'{s:.2f}' for s in g.seconds)} | "
                         f"{', '.join(f'{v:,.4f}' for v in logliks)} | {g.n_best_starts.iloc[0]:.0f}/10 | "
                         f"{g.peak_rss_mib.max():.0f} | {', '.join(f'{v:.1f}' for v in g.load1)} |")
        totals = one.groupby("engine").seconds.agg(["sum", "median", "size"])
        lines += ["", "| engine | fits | total seconds | median |", "|---|---:|---:|---:|"]
        for engine, t in totals.iterrows():
            lines.append(f"| {engine} | {t['size']:.0f} | {t['sum']:.1f} | {t['median']:.2f} |")
    text = "\n".join(lines) + "\n"
    (RESULTS / "chain_bench.md").write_text(text)
    print(text)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_chain":
        csv, n_init, seed = argv[1:4]
        print(json.dumps(chain_child(csv, int(n_init), int(seed), "--truth" in argv)))
        return
    if argv and argv[0] == "_one":
        src, csv, n_init, seed = argv[1:5]
        print(json.dumps(one_equation_child(src, csv, int(n_init), int(seed))))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="fit and record")
    run_parser.add_argument("--n", type=int, default=100_000)
    run_parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    run_parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    run_parser.add_argument("--n-init", type=int, default=10)
    run_parser.add_argument("--with-r", action="store_true", help="flexmix side by side after each trustseg fit")
    run_parser.add_argument("--r-timeout", type=float, default=2400, help="seconds before a flexmix run is killed")
    run_parser.add_argument("--no-chain", action="store_true", help="skip the chain fits")
    run_parser.add_argument("--one-eq-before", help="src folder of an older engine: time one equation with both")
    run_parser.add_argument("--one-eq-label", default="7209d3d", help="what --one-eq-before is, for the tables")
    run_parser.add_argument("--one-eq-repeats", type=int, default=2, help="runs of each engine, alternating")
    run_parser.add_argument("--resume", action="store_true", help="keep the rows already recorded, skip them")
    commands.add_parser("report", help="the Markdown tables from the recorded rows")
    args = parser.parse_args(argv)
    run(args) if args.command == "run" else report(args)


if __name__ == "__main__":
    main()

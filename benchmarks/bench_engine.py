"""Benchmark the trustseg engine against R flexmix, and its scaling.

Run from the repository root::

    /tmp/dev/bin/python benchmarks/bench_engine.py compare --n 100000 1000000
    /tmp/dev/bin/python benchmarks/bench_engine.py scaling

``compare`` simulates three segments with one predictor, fits them with
``ClusterwiseRegression(n_segments=3, n_init=10)`` and with flexmix
``stepFlexmix(y ~ x, k = 3, nrep = 10)`` on the same CSV, each in its own process
wrapped in ``/usr/bin/time -v`` (peak resident memory), and reports wall time of
the fit alone, log-likelihoods and the log-likelihood at the true parameters.
flexmix runs longer than ``--flexmix-timeout`` seconds are stopped and reported
as such.  ``scaling`` times the engine alone over respondents, segments and
predictors.  Results print as Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
TRUE = {
    "intercepts": np.array([0.5, 2.5, 5.5]),
    "slopes": np.array([1.1, 0.6, 0.1]),
    "sigmas": np.array([0.5, 0.6, 0.4]),
    "shares": np.array([0.5, 0.3, 0.2]),
}


def simulate(n, k=3, p=1, seed=2024):
    """Clusterwise data: the benchmark truth for k=3, evenly spread lines otherwise."""
    rng = np.random.default_rng(seed)
    if k == 3:
        intercepts, slopes, sigmas, shares = (TRUE[key] for key in ("intercepts", "slopes", "sigmas", "shares"))
    else:
        intercepts = np.linspace(0.5, 6.0, k)
        slopes = np.linspace(1.2, 0.0, k)
        sigmas = np.full(k, 0.4)
        shares = np.full(k, 1.0 / k)
    labels = rng.choice(k, size=n, p=shares)
    X = rng.uniform(1, 7, size=(n, p))
    y = intercepts[labels] + slopes[labels] * X[:, 0] + rng.normal(size=n) * sigmas[labels]
    if p > 1:
        y = y + X[:, 1:] @ np.full(p - 1, 0.1)
    return X, y


def true_loglik(X, y):
    """Log-likelihood of the benchmark data at the parameters that generated them."""
    from scipy.special import logsumexp

    mean = TRUE["intercepts"] + X[:, :1] * TRUE["slopes"]
    sigma = TRUE["sigmas"]
    log_joint = (
        np.log(TRUE["shares"]) - np.log(sigma) - 0.5 * np.log(2 * np.pi) - 0.5 * ((y[:, None] - mean) / sigma) ** 2
    )
    return float(logsumexp(log_joint, axis=1).sum())


def peak_rss_mib(stderr):
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    return int(match.group(1)) / 1024 if match else float("nan")


def run_timed(command, timeout):
    """Run under /usr/bin/time -v; return (stdout, peak MiB, wall seconds) or None on timeout."""
    start = time.perf_counter()
    try:
        done = subprocess.run(
            ["/usr/bin/time", "-v", *command], capture_output=True, text=True, timeout=timeout, check=True
        )
    except subprocess.TimeoutExpired:
        return None
    return done.stdout, peak_rss_mib(done.stderr), time.perf_counter() - start


def worker(csv, k, n_init):
    """Fit the engine in this process and print JSON (called through run_timed)."""
    from trustseg.model.mixture import ClusterwiseRegression

    data = pd.read_csv(csv)
    X, y = data[["x"]], data["y"]
    start = time.perf_counter()
    model = ClusterwiseRegression(n_segments=k, n_init=n_init, random_state=0).fit(X, y)
    seconds = time.perf_counter() - start
    print(json.dumps({
        "seconds": seconds, "loglik": model.loglik_, "n_iter": model.n_iter_,
        "n_best_starts": model.n_best_starts_, "k_fitted": model.n_segments_,
        "coef": model.coef_.ravel().tolist(), "intercept": model.intercept_.tolist(),
    }))


def compare(sizes, n_init, timeout):
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            X, y = simulate(n)
            csv = Path(tmp) / f"sim_{n}.csv"
            pd.DataFrame({"x": X[:, 0], "y": y}).to_csv(csv, index=False, float_format="%.17g")
            truth = true_loglik(X, y)
            ours = run_timed([sys.executable, __file__, "worker", str(csv), "3", str(n_init)], None)
            result = json.loads(ours[0])
            r = run_timed(["Rscript", str(HERE / "flexmix_bench.R"), str(csv), "3", str(n_init)], timeout)
            if r is None:
                flexmix = {"seconds": f"> {timeout} (stopped)", "loglik": float("nan"), "peak": float("nan")}
            else:
                values = dict(line.split("=", 1) for line in r[0].strip().splitlines())
                flexmix = {"seconds": float(values["seconds"]), "loglik": float(values["loglik"]), "peak": r[1]}
            speedup = (
                flexmix["seconds"] / result["seconds"]
                if isinstance(flexmix["seconds"], float) else f"> {timeout / result['seconds']:.0f}"
            )
            rows.append({
                "respondents": n,
                "trustseg s": round(result["seconds"], 2),
                "flexmix s": flexmix["seconds"],
                "speed-up": speedup if isinstance(speedup, str) else round(speedup, 1),
                "trustseg peak MiB": round(ours[1]),
                "flexmix peak MiB": flexmix["peak"] if np.isnan(flexmix["peak"]) else round(flexmix["peak"]),
                "loglik trustseg": round(result["loglik"], 3),
                "loglik flexmix": round(flexmix["loglik"], 3),
                "loglik at truth": round(truth, 3),
                "trustseg - truth": round(result["loglik"] - truth, 3),
            })
            print(pd.DataFrame(rows[-1:]).to_string(index=False), flush=True)
    return pd.DataFrame(rows)


def em_iteration_seconds(X, y, k, repeats=20):
    """Mean time of one full-data E-step + M-step (the unit cost of the fit)."""
    from threadpoolctl import threadpool_limits

    from trustseg.model.em import m_step, make_problem
    from trustseg.model.families import GaussianFamily

    problem = make_problem(GaussianFamily(), np.asarray(X, dtype=float), np.asarray(y, dtype=float),
                           variance_floor=1e-6)
    resp = np.random.default_rng(0).dirichlet(np.ones(k), size=len(y))
    with threadpool_limits(limits=1, user_api="blas"):
        start = time.perf_counter()
        for _ in range(repeats):
            params = m_step(problem, resp)
            resp, _ = problem.e_step(params)
        return (time.perf_counter() - start) / repeats


def scaling(n_init):
    from trustseg.model.mixture import ClusterwiseRegression

    settings = [(n, 3, 1) for n in (10_000, 100_000, 1_000_000)]
    settings += [(100_000, k, 1) for k in (2, 5)]
    settings += [(100_000, 3, p) for p in (3, 5)]
    rows = []
    for n, k, p in settings:
        X, y = simulate(n, k, p)
        start = time.perf_counter()
        model = ClusterwiseRegression(n_segments=k, n_init=n_init, random_state=0).fit(X, y)
        seconds = time.perf_counter() - start
        rows.append({"respondents": n, "segments": k, "predictors": p, "fit seconds": round(seconds, 2),
                     "EM iterations (best start)": model.n_iter_, "Newton steps": model.n_newton_steps_,
                     "ms per full-data EM iteration": round(1e3 * em_iteration_seconds(X, y, k), 2)})
        print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    cmp_parser = sub.add_parser("compare")
    cmp_parser.add_argument("--n", type=int, nargs="+", default=[100_000, 1_000_000])
    cmp_parser.add_argument("--n-init", type=int, default=10)
    cmp_parser.add_argument("--flexmix-timeout", type=float, default=900)
    scale_parser = sub.add_parser("scaling")
    scale_parser.add_argument("--n-init", type=int, default=10)
    work = sub.add_parser("worker")
    work.add_argument("csv")
    work.add_argument("k", type=int)
    work.add_argument("n_init", type=int)
    args = parser.parse_args(argv)
    if args.command == "worker":
        worker(args.csv, args.k, args.n_init)
    elif args.command == "compare":
        print(_markdown(compare(args.n, args.n_init, args.flexmix_timeout)))
    else:
        print(_markdown(scaling(args.n_init)))


def _markdown(frame):
    """A Markdown table without the optional tabulate dependency."""
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |",
             "|" + "|".join("---:" for _ in frame.columns) + "|"]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

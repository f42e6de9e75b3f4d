"""Monte Carlo: does the default K = 2 fit find the best K = 2 solution of three-segment data?

Data: the ``base`` scenario of ``benchmarks/scenarios.py`` (three segments,
mean of four 7-point items), n = 300 and 1,000, data seeds 1..20.  K = 2 is
misspecified, so its likelihood surface has several competing optima (which two
true segments end up merged).  Per data set the best known K = 2 solution is the
maximum over

* ``ClusterwiseRegression(n_segments=2, n_init=200, random_state=1)``;
* one fit per start kind alone, ``start_kinds=[kind]`` with ``n_init=50``, for
  kind in lines, kmeans, random, split (skipped if the estimator does not accept
  ``start_kinds``; note that the split path is deterministic, so ``["split"]``
  runs it once and fills the other starts with random partitions);
* three starts at merged true segments (each pair of true segments merged into
  one: share-weighted intercept and slope, pooled sigma, summed share), given as
  ``init_params`` to one fit with ``n_init=0``;
* the default fit itself.

The default fit, ``ClusterwiseRegression(n_segments=2, random_state=0)``, reached
the best known if within a relative 1e-6 of it; its gap is the best known minus
its log-likelihood.  Everything runs in this one process, each fit timed with
``time.perf_counter`` around ``fit`` alone.  One JSON line per data set goes to
``--results`` (default /tmp/bench9/mc_k2.jsonl; data sets already recorded with
the same engine fingerprint are skipped), then a Markdown summary prints.
Run from the repository root::

    /tmp/dev/bin/python benchmarks/monte_carlo_k2.py                 # n = 300 and 1000, 20 data sets each
    /tmp/dev/bin/python benchmarks/monte_carlo_k2.py --summary-only  # the table from the recorded results
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from optimum_matrix import engine_fingerprint, reached, recorded  # noqa: E402
from scenarios import SCENARIOS, simulate_from  # noqa: E402

RTOL = 1e-6
START_KINDS = ("lines", "kmeans", "random", "split")


def merged_starts(truth):
    """K - 1 segment starts: every pair of true segments merged into one, the rest kept."""
    a = np.asarray(truth["intercept"], dtype=float)
    b = np.asarray(truth["coef"], dtype=float).reshape(len(a), -1)
    s = np.asarray(truth["sigma"], dtype=float)
    w = np.asarray(truth["weights"], dtype=float)
    starts = []
    for i, j in itertools.combinations(range(len(a)), 2):
        share = w[i] + w[j]
        keep = [m for m in range(len(a)) if m not in (i, j)]
        starts.append({
            "intercept": np.r_[(w[i] * a[i] + w[j] * a[j]) / share, a[keep]],
            "coef": np.vstack([(w[i] * b[i] + w[j] * b[j]) / share, b[keep]]),
            "sigma": np.r_[np.sqrt((w[i] * s[i] ** 2 + w[j] * s[j] ** 2) / share), s[keep]],
            "weights": np.r_[share, w[keep]],
            "merged": (i, j),
        })
    return starts


def timed_fit(X, y, **params):
    from trustseg.model.mixture import ClusterwiseRegression

    model = ClusterwiseRegression(n_segments=2, **params)
    start = time.perf_counter()
    model.fit(X, y)
    return model, time.perf_counter() - start


def _solution(model):
    return {"intercept": model.intercept_.tolist(), "coef": model.coef_.ravel().tolist(),
            "sigma": model.sigma_.tolist(), "weights": model.weights_.tolist()}


def one_data_set(n, data_seed, n_init, n_init_kind):
    spec = SCENARIOS["base"]
    X, y = simulate_from(spec["truth"], spec["predictor"], n, data_seed)
    sources = {}
    model, seconds = timed_fit(X, y, n_init=n_init, random_state=1)
    sources[f"n_init={n_init}"] = {"loglik": model.loglik_, "seconds": seconds, "n_best_starts": model.n_best_starts_}
    for kind in START_KINDS:
        try:
            model, seconds = timed_fit(X, y, n_init=n_init_kind, start_kinds=[kind], random_state=1)
        except (TypeError, ValueError) as error:  # start_kinds not (yet) accepted by the estimator
            sources[f"{kind} only"] = {"skipped": str(error)[:200]}
            continue
        sources[f"{kind} only"] = {"loglik": model.loglik_, "seconds": seconds,
                                   "n_best_starts": model.n_best_starts_}
    starts = merged_starts(spec["truth"])
    given = [{key: value for key, value in start.items() if key != "merged"} for start in starts]
    model, seconds = timed_fit(X, y, n_init=0, init_params=given)
    for start, loglik in zip(starts, model.start_logliks_):
        sources[f"merged {start['merged'][0] + 1}+{start['merged'][1] + 1}"] = {"loglik": float(loglik)}
    default, seconds = timed_fit(X, y, random_state=0)
    sources["default"] = {"loglik": default.loglik_, "seconds": seconds, "n_best_starts": default.n_best_starts_}
    others = {name: s["loglik"] for name, s in sources.items() if name != "default" and "loglik" in s}
    best_other = max(others.values())
    best = max(best_other, default.loglik_)
    return {
        "n": n, "data_seed": data_seed, "engine": engine_fingerprint(),
        "best_loglik": best, "best_source": max(others, key=others.get) if best_other >= default.loglik_ else "default",
        "default_loglik": default.loglik_, "default_seconds": seconds, "default_converged": bool(default.converged_),
        "default_hit": bool(reached(default.loglik_, best, RTOL)), "gap": best - default.loglik_,
        "default_better_than_all_others": bool(default.loglik_ > best_other + RTOL * abs(best_other)),
        "default_solution": _solution(default), "sources": sources,
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def summary(records):
    """Markdown: per n, how often the default fit reached the best known, and what each source reached."""
    lines = ["| n | data sets | default reached best | median gap | max gap | median s | max s |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    by_n = {}
    for r in records:
        by_n.setdefault(r["n"], []).append(r)
    for n, rows in sorted(by_n.items()):
        gaps = np.array([r["gap"] for r in rows])
        seconds = np.array([r["default_seconds"] for r in rows])
        hits = sum(r["default_hit"] for r in rows)
        lines.append(f"| {n:,} | {len(rows)} | {hits}/{len(rows)} | {np.median(gaps):.3g} | {gaps.max():.3g} | "
                     f"{np.median(seconds):.2f} | {seconds.max():.2f} |")
    names = []
    for r in records:
        names += [name for name in r["sources"] if name not in names]
    lines += ["", "Data sets in which each source reached the best known (relative 1e-6), and its median seconds:",
              "", "| n | " + " | ".join(names) + " |", "|---:|" + "---:|" * len(names)]
    for n, rows in sorted(by_n.items()):
        cells = []
        for name in names:
            ran = [(r["sources"][name], r["best_loglik"]) for r in rows if "loglik" in r["sources"].get(name, {})]
            if not ran:
                cells.append("skipped")
                continue
            hits = sum(reached(source["loglik"], best, RTOL) for source, best in ran)
            secs = [source["seconds"] for source, _ in ran if "seconds" in source]
            cells.append(f"{hits}/{len(ran)}" + (f" ({np.median(secs):.2f} s)" if secs else ""))
        lines.append(f"| {n:,} | " + " | ".join(cells) + " |")
    engines = sorted({r["engine"] for r in records})
    lines += ["", f"Engine fingerprint(s): {', '.join(engines)}."]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[300, 1000])
    parser.add_argument("--data-sets", type=int, default=20, help="data seeds 1..DATA_SETS")
    parser.add_argument("--n-init", type=int, default=200, help="starts of the thorough fit")
    parser.add_argument("--n-init-kind", type=int, default=50, help="starts of each one-kind fit")
    parser.add_argument("--results", default="/tmp/bench9/mc_k2.jsonl")
    parser.add_argument("--summary-only", action="store_true")
    args = parser.parse_args(argv)
    results = Path(args.results)
    if not args.summary_only:
        engine = engine_fingerprint()
        done = {(r["n"], r["data_seed"]) for r in recorded(results) if r["engine"] == engine}
        results.parent.mkdir(parents=True, exist_ok=True)
        for n in args.n:
            for data_seed in range(1, args.data_sets + 1):
                if (n, data_seed) in done:
                    continue
                record = one_data_set(n, data_seed, args.n_init, args.n_init_kind)
                with results.open("a") as f:
                    f.write(json.dumps(record) + "\n")
                print(f"n={n} data seed {data_seed}: default {record['default_loglik']:.4f}, best "
                      f"{record['best_loglik']:.4f} ({record['best_source']}), gap {record['gap']:.3g}", flush=True)
    engine = engine_fingerprint()
    rows = [r for r in recorded(results) if r["n"] in args.n and r["data_seed"] <= args.data_sets]
    latest = [r for r in rows if r["engine"] == engine] or rows
    print(summary(latest))


if __name__ == "__main__":
    main()

"""From how many seeds do trustseg and R flexmix reach the best known optimum, and how fast?

A benchmark matrix over the scenarios of ``benchmarks/scenarios.py`` (predictor
types, separations, shares, K) and sizes.  Run from the repository root, one
step after the other (each step appends to or rewrites files under /tmp/bench9)::

    PY=/tmp/dev/bin/python
    # 1. data: every scenario at every size, data seed 7, as CSV (for R) and .npz
    $PY benchmarks/optimum_matrix.py data --n 1000 100000 1000000 --out /tmp/bench9/data
    # 2. flexmix: stepFlexmix(y ~ x, k = K, nrep = 10), R seeds 1..S, one Rscript process per fit
    $PY benchmarks/optimum_matrix.py flexmix --n 1000 --seeds 20
    $PY benchmarks/optimum_matrix.py flexmix --n 100000 --seeds 3
    $PY benchmarks/optimum_matrix.py flexmix --n 1000000 --seeds 1 --scenarios base crossing small_segment
    # 3. trustseg: ClusterwiseRegression(n_segments=K, random_state=seed), default settings, one process per fit
    $PY benchmarks/optimum_matrix.py trustseg --n 1000 --seeds 20
    $PY benchmarks/optimum_matrix.py trustseg --n 100000 --seeds 3
    $PY benchmarks/optimum_matrix.py trustseg --n 1000000 --seeds 1 --scenarios base crossing small_segment
    # 4. best known log-likelihood per scenario and size
    $PY benchmarks/optimum_matrix.py reference
    # 5. the Markdown table
    $PY benchmarks/optimum_matrix.py report > /tmp/bench9/report.md

Timing: every fit runs in its own process (``Rscript benchmarks/flexmix_matrix.R``
or this script's hidden ``fit`` command) under ``/usr/bin/time -v``, with
OMP/OpenBLAS threads set to 1; ``seconds`` is the fit alone (R's
``system.time`` around ``stepFlexmix``; ``time.perf_counter`` around
``fit``), ``wall`` the whole process (start-up and reading the data included)
and ``peak_mib`` its peak resident memory.  A fit running longer than
``--timeout`` seconds (default 900) is killed (its whole process group) and
recorded with status "timeout".  Results are JSON lines in
``<results>/flexmix.jsonl`` and ``<results>/trustseg.jsonl``; a fit already
recorded is skipped, so an interrupted run resumes where it stopped (trustseg fits
are keyed by a fingerprint of the engine source too, so a changed engine is rerun).

``reference`` takes, per scenario and size, the maximum log-likelihood over every
recorded fit, a thorough trustseg fit (``n_init=200``), a fit started from the
true parameters and fits started from every flexmix solution (which also tells
whether each flexmix fit was in the basin of the best optimum), and writes
``<results>/reference.json``.  ``report`` counts a trustseg fit as reaching the
best known when within a relative 1e-6 of it, a flexmix fit when within a
relative 1e-5 (flexmix evaluates its log-likelihood with a df-corrected sigma and
stops EM at a relative change of 1e-6, so it sits slightly below the maximum even
at the right optimum).  By default it uses, per cell, the trustseg fits of the most
recently recorded engine fingerprint (``--engine all`` mixes them).

Censored and ordinal families (issue 22; no flexmix counterpart, so the engine is
compared with itself before the one-engine refactor).  ``--family censored`` or
``--family ordinal`` switches every command to the scenarios of
``benchmarks/family_scenarios.py`` (1-7 answers on Likert-valued predictors),
data ``<family>_<scenario>_n<n>.npz``, results ``trustseg_<family>.jsonl`` and
``reference_<family>.json``; ``--family gaussian`` (the default) is the matrix
above, unchanged.  ``trustseg --engine-label before`` runs each fit with
``--before-src`` (default /work/scratch-engine/before-src/src, a copy of the old
``src/``) first on PYTHONPATH; ``after`` (the default) the installed trustseg.
Each record carries ``family``, ``label`` (before/after), ``module`` (where the
fitted trustseg came from) and ``cpu_seconds`` beside ``seconds``::

    $PY benchmarks/optimum_matrix.py data --family censored --n 1000 100000 --out /tmp/matrix/data
    $PY benchmarks/optimum_matrix.py trustseg --family censored --engine-label after --n 1000 --seeds 20 \
        --data /tmp/matrix/data --results benchmarks/results/optimum_matrix_families
    $PY benchmarks/optimum_matrix.py trustseg --family censored --engine-label before ...   (same options)
    $PY benchmarks/optimum_matrix.py reference --family censored --n 1000 100000 --data ... --results ...
    $PY benchmarks/optimum_matrix.py report --family censored --results ...

The family ``reference`` rescores every recorded fit (both engines) with the
installed engine's likelihood and adds a thorough fit of the installed engine
(``--n-init``, default 100); ``report`` shows, per scenario and n, the seeds at
the best known (relative 1e-6) and the median CPU and elapsed seconds, before
and after side by side.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from family_scenarios import FAMILIES, FAMILY_SCENARIOS, simulate_family  # noqa: E402
from scenarios import SCENARIOS, loglik_at, simulate, truth_as_json, write_csv  # noqa: E402

ROOT = Path("/tmp/bench9")
DATA_SEED = 7
TRUSTSEG_RTOL = 1e-6
FLEXMIX_RTOL = 1e-5
THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
#: the source tree of the engine before the one-engine refactor (issue 22), run with it first on PYTHONPATH
BEFORE_SRC = Path("/work/scratch-engine/before-src/src")
FAMILY_CHOICES = ["gaussian", *FAMILIES]


def scenario_specs(family):
    """The scenarios of ``family``: the gaussian matrix's, or the censored/ordinal ones of family_scenarios.py."""
    return SCENARIOS if family == "gaussian" else FAMILY_SCENARIOS


def data_stem(name, family):
    """File stem of a scenario's data: ``<name>`` for gaussian, ``<family>_<name>`` otherwise."""
    return name if family == "gaussian" else f"{family}_{name}"


def results_name(tool, family):
    return f"{tool}.jsonl" if family == "gaussian" else f"{tool}_{family}.jsonl"


# -- data -------------------------------------------------------------------


def data_paths(data_dir, scenario, n):
    stem = Path(data_dir) / f"{scenario}_n{n}"
    return stem.with_suffix(".csv"), stem.with_suffix(".npz")


def load_npz(path):
    with np.load(path) as f:
        truth = {key: f[f"truth_{key}"] for key in ("intercept", "coef", "sigma", "weights")}
        return f["X"], f["y"], truth


def make_data(sizes, scenarios, out, force, family="gaussian"):
    if family != "gaussian":
        return make_family_data(sizes, scenarios, out, force, family)
    for n in sizes:
        for name in scenarios:
            csv, npz = data_paths(out, name, n)
            if csv.exists() and npz.exists() and not force:
                print(f"{csv.name}: exists", flush=True)
                continue
            X, y, truth = simulate(name, n, DATA_SEED)
            write_csv(csv, X, y)
            np.savez(npz, X=X, y=y, **{f"truth_{key}": value for key, value in truth.items()})
            print(f"{csv.name}: written, loglik at truth {loglik_at(truth, X, y):.3f}", flush=True)


def make_family_data(sizes, scenarios, out, force, family):
    """The censored/ordinal answers of every scenario and size (data seed 7) as .npz (no R fit: no CSV)."""
    for n in sizes:
        for name in scenarios:
            _, npz = data_paths(out, data_stem(name, family), n)
            if npz.exists() and not force:
                print(f"{npz.name}: exists", flush=True)
                continue
            X, y, spec = simulate_family(name, family, n, DATA_SEED)
            npz.parent.mkdir(parents=True, exist_ok=True)
            np.savez(npz, X=X, y=y, **{f"truth_{key}": value for key, value in spec["truth"].items()})
            print(f"{npz.name}: written, {np.mean(y == 1):.1%} at 1, {np.mean(y == 7):.1%} at 7", flush=True)


# -- running one fit in its own process -------------------------------------


def run_timed(command, timeout, extra_env=None):
    """Run ``command`` under /usr/bin/time -v in a new process group.

    Returns (status, stdout, stderr, peak MiB, wall seconds); on timeout the
    whole group (time, and the R or Python process under it) is killed.
    ``extra_env`` (e.g. a PYTHONPATH for the engine before the refactor) is
    added to the environment.
    """
    env = {**os.environ, **THREAD_ENV, **(extra_env or {})}
    start = time.perf_counter()
    proc = subprocess.Popen(["/usr/bin/time", "-v", *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return "timeout", out, err, float("nan"), time.perf_counter() - start
    wall = time.perf_counter() - start
    peak = float("nan")
    for line in err.splitlines():
        if "Maximum resident set size (kbytes)" in line:
            peak = int(line.rsplit(":", 1)[1]) / 1024
    status = "ok" if proc.returncode == 0 else f"error (exit {proc.returncode})"
    return status, out, err, peak, wall


def recorded(path):
    """Every JSON line of a results file (none if it does not exist)."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def append(path, record):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")


def _last_json_line(text):
    lines = [line for line in text.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else None


def run_matrix(tool, sizes, scenarios, n_seeds, data_dir, results_dir, timeout, command_for, key_extra,
               family="gaussian", label=None, extra_env=None):
    """Run every (size, scenario, seed) fit not yet recorded and append its result.

    For a family other than gaussian the fits go to ``trustseg_<family>.jsonl``
    and every record also carries ``family`` and the engine ``label``
    (before/after the one-engine refactor).
    """
    specs = scenario_specs(family)
    results = Path(results_dir) / results_name(tool, family)
    done = {(r["scenario"], r["n"], r["seed"], r.get("engine")) for r in recorded(results)}
    for n in sizes:
        for name in scenarios:
            csv, npz = data_paths(data_dir, data_stem(name, family), n)
            if not npz.exists():
                raise SystemExit(f"{npz} is missing: run the data command first")
            k = specs[name]["k"]
            for seed in range(1, n_seeds + 1):
                if (name, n, seed, key_extra) in done:
                    continue
                status, out, err, peak, wall = run_timed(command_for(csv, npz, k, seed), timeout, extra_env)
                result = _last_json_line(out) if status == "ok" else None
                if status == "ok" and result is None:
                    status = "error (no JSON)"
                record = {"tool": tool, "scenario": name, "n": n, "k": k, "seed": seed, "status": status,
                          "wall": round(wall, 3), "peak_mib": None if np.isnan(peak) else round(peak, 1),
                          "engine": key_extra, "when": time.strftime("%Y-%m-%d %H:%M:%S"),
                          "load1": round(os.getloadavg()[0], 2)}
                if family != "gaussian":
                    record.update(family=family, label=label)
                if status == "timeout":
                    record["seconds"] = timeout
                if result is not None:
                    record.update(result)
                if status.startswith("error"):
                    record["stderr_tail"] = err[-2000:]
                append(results, record)
                what = tool if family == "gaussian" else f"{tool} {label} {family}"
                print(f"{what} {name} n={n} seed={seed}: {status}, "
                      f"{record.get('seconds', float('nan')):.2f} s, loglik {record.get('loglik', float('nan')):.4f}",
                      flush=True)


def flexmix_command(nrep):
    def command(csv, npz, k, seed):
        return ["Rscript", str(HERE / "flexmix_matrix.R"), str(csv), str(k), str(seed), str(nrep)]

    return command


def engine_fingerprint(package=None):
    """A short hash of the installed trustseg model sources (the engine under test), or of ``package``'s."""
    if package is None:
        import trustseg

        package = Path(trustseg.__file__).resolve().parent
    digest = hashlib.sha1()
    for path in sorted((Path(package) / "model").glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def trustseg_command(csv, npz, k, seed):
    return [sys.executable, str(Path(__file__).resolve()), "fit", str(npz), str(k), str(seed)]


def family_command(family):
    def command(csv, npz, k, seed):
        return [sys.executable, str(Path(__file__).resolve()), "fit", str(npz), str(k), str(seed),
                "--family", family]

    return command


def family_fit_worker(npz, k, seed, family):
    """Fit ``family`` with default settings and the scale's bounds/categories; print one JSON line.

    Runs with whichever trustseg is first on the path (the record says which);
    both engines take ``family`` and ``family_options``.
    """
    import trustseg
    from trustseg.model.mixture import ClusterwiseRegression

    X, y, _ = load_npz(npz)
    start, cpu = time.perf_counter(), time.process_time()
    model = ClusterwiseRegression(n_segments=k, family=family, family_options=FAMILIES[family]["options"],
                                  random_state=seed).fit(X, y)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    k_fitted = int(model.n_segments_)
    beta = model.coef_.reshape(k_fitted, -1)
    if family == "censored":  # the ordinal family has no intercept (its thresholds are in extra_)
        beta = np.column_stack([model.intercept_, beta])
    print(json.dumps({
        "seconds": round(seconds, 4), "cpu_seconds": round(cpu, 4), "loglik": float(model.loglik_),
        "k_fitted": k_fitted, "converged": bool(model.converged_), "n_best_starts": int(model.n_best_starts_),
        "n_init": int(model.n_init),
        "start_logliks": np.asarray(model.start_logliks_).tolist(), "weights": model.weights_.tolist(),
        "beta": beta.tolist(), "extra": np.asarray(model.extra_).tolist(), "n_iter": int(model.n_iter_),
        "module": str(Path(trustseg.__file__).resolve().parent),
    }))


def fit_worker(npz, k, seed):
    """Fit trustseg with default settings in this process and print one JSON line."""
    from trustseg.model.mixture import ClusterwiseRegression

    X, y, _ = load_npz(npz)
    start = time.perf_counter()
    model = ClusterwiseRegression(n_segments=k, random_state=seed).fit(X, y)
    seconds = time.perf_counter() - start
    print(json.dumps(fitted_record(model, seconds)))


def fitted_record(model, seconds):
    return {
        "seconds": round(seconds, 4), "loglik": model.loglik_, "k_fitted": int(model.n_segments_),
        "converged": bool(model.converged_), "n_best_starts": int(model.n_best_starts_),
        "n_init": int(model.n_init), "start_logliks": np.asarray(model.start_logliks_).tolist(),
        "intercept": model.intercept_.tolist(), "coef": model.coef_.ravel().tolist(),
        "sigma": model.sigma_.tolist(), "weights": model.weights_.tolist(), "n_iter": int(model.n_iter_),
    }


# -- reference ----------------------------------------------------------------


def _params(record):
    return {key: np.asarray(record[key], dtype=float) for key in ("intercept", "coef", "sigma", "weights")}


def build_reference(sizes, scenarios, data_dir, results_dir, n_init):
    """Best known log-likelihood per (scenario, n), with where it came from."""
    from trustseg.model.families import DEFAULT_RELATIVE_FLOOR
    from trustseg.model.mixture import ClusterwiseRegression

    results_dir = Path(results_dir)
    out_path = results_dir / "reference.json"
    reference = json.loads(out_path.read_text()) if out_path.exists() else {}
    records = recorded(results_dir / "trustseg.jsonl") + recorded(results_dir / "flexmix.jsonl")
    for n in sizes:
        for name in scenarios:
            _, npz = data_paths(data_dir, name, n)
            if not npz.exists():
                continue
            cell = [r for r in records if r["scenario"] == name and r["n"] == n and r["status"] == "ok"]
            if not cell:  # nothing recorded to compare with
                continue
            X, y, truth = load_npz(npz)
            k = SCENARIOS[name]["k"]
            candidates = {}  # source -> (loglik, params)
            for tool in ("trustseg", "flexmix"):
                fits = [r for r in cell if r["tool"] == tool]
                if fits:
                    top = max(fits, key=lambda r: r["loglik"])
                    candidates[f"recorded {tool} (seed {top['seed']})"] = (top["loglik"], _params(top))
            started = time.perf_counter()
            thorough = ClusterwiseRegression(n_segments=k, n_init=n_init, random_state=0).fit(X, y)
            thorough_seconds = time.perf_counter() - started
            candidates[f"trustseg n_init={n_init}"] = (thorough.loglik_, _model_params(thorough))
            from_truth = ClusterwiseRegression(n_segments=k, n_init=0, init_params=[truth]).fit(X, y)
            candidates["start at truth"] = (from_truth.loglik_, _model_params(from_truth))
            flexmix_fits = [r for r in cell if r["tool"] == "flexmix" and r["k_fitted"] == k]
            polished = {}
            if flexmix_fits:
                starts = [_params(r) for r in flexmix_fits]
                polish = ClusterwiseRegression(n_segments=k, n_init=0, init_params=starts).fit(X, y)
                polished = {str(r["seed"]): float(v) for r, v in zip(flexmix_fits, polish.start_logliks_)}
                candidates["trustseg from flexmix solutions"] = (polish.loglik_, _model_params(polish))
            source = max(candidates, key=lambda s: candidates[s][0])
            best, best_params = candidates[source]
            floor_sigma = float(np.sqrt(DEFAULT_RELATIVE_FLOOR * np.var(y)))
            smallest = int(np.argmin(best_params["sigma"]))
            reference[f"{name}/{n}"] = {
                "scenario": name, "n": n, "k": k, "best_loglik": best, "best_source": source,
                "best_params": {key: np.asarray(v).ravel().tolist() for key, v in best_params.items()},
                "candidates": {s: v[0] for s, v in candidates.items()},
                "best_min_sigma": float(best_params["sigma"][smallest]),
                "best_min_sigma_share": float(best_params["weights"][smallest]),
                "variance_floor_sigma": floor_sigma,
                "loglik_at_truth": loglik_at(truth, X, y), "truth": truth_as_json(truth),
                "thorough_n_best_starts": int(thorough.n_best_starts_), "thorough_seconds": round(thorough_seconds, 2),
                "flexmix_polished": polished,
                "flexmix_ml_loglik_at_own_params": {str(r["seed"]): loglik_at(_params(r), X, y) for r in flexmix_fits},
                "engine": engine_fingerprint(), "when": time.strftime("%Y-%m-%d %H:%M:%S"),
            }
            print(f"reference {name} n={n}: {best:.4f} from {source}; at truth {loglik_at(truth, X, y):.4f}",
                  flush=True)
            out_path.write_text(json.dumps(reference, indent=1))


def _new_engine_loglik(model, X, y):
    """A function giving a recorded fit's log-likelihood under the installed engine's family likelihood.

    ``model`` is a fitted model of the installed trustseg (its family, bounds and
    categories and its design are used); a record gives ``weights``, ``beta`` and
    ``extra``, as both engines store them, so fits of the engine before the
    refactor are scored by the same likelihood as those after it.
    """
    from trustseg.model.likelihood import mixture_loglik
    from trustseg.model.params import MixtureParams

    data, rows = model._validated(X, y, None, None)
    rows = model.family_.prepare(data["y"], rows)

    def loglik(record):
        weights = np.asarray(record["weights"], dtype=float)
        k = len(weights)
        params = MixtureParams(weights, np.asarray(record["beta"], dtype=float).reshape(k, -1),
                               np.asarray(record["extra"], dtype=float).reshape(k, -1))
        return float(mixture_loglik(model.family_, data["design"], data["y"], data["w"], params, rows))

    return loglik


def build_family_reference(sizes, scenarios, family, data_dir, results_dir, n_init):
    """Best known log-likelihood per (scenario, n) of a censored/ordinal cell, both engines' fits rescored.

    The best known is the maximum over every recorded fit of the cell (both
    engines, each rescored by the installed engine's likelihood) and a thorough
    fit of the installed engine (``n_init`` starts, random_state 0).
    """
    from trustseg.model.mixture import ClusterwiseRegression

    results_dir = Path(results_dir)
    out_path = results_dir / f"reference_{family}.json"
    reference = json.loads(out_path.read_text()) if out_path.exists() else {}
    records = recorded(results_dir / results_name("trustseg", family))
    for n in sizes:
        for name in scenarios:
            _, npz = data_paths(data_dir, data_stem(name, family), n)
            cell = [r for r in records if r["scenario"] == name and r["n"] == n and r["status"] == "ok"]
            if not npz.exists() or not cell:
                continue
            X, y, _ = load_npz(npz)
            k = FAMILY_SCENARIOS[name]["k"]
            options = {"n_segments": k, "family": family, "family_options": FAMILIES[family]["options"]}
            earlier = reference.get(f"{name}/{n}", {})
            if earlier.get("engine") == engine_fingerprint() and earlier.get("thorough_n_init") == n_init \
                    and "thorough_loglik" in earlier:
                # more fits recorded since: rescore them, and take the thorough fit's solution as it was
                # (this refit only gives the family and design for the rescoring: EM run on from a solution can
                # creep further up a flat ridge, which is not what the thorough fit reached)
                with warnings.catch_warnings():  # it stops at max_iter=1 on purpose
                    warnings.simplefilter("ignore", RuntimeWarning)
                    thorough = ClusterwiseRegression(**options, n_init=0, init_params=earlier["thorough_params"],
                                                     escape=False, max_iter=1).fit(X, y)
                thorough_seconds, thorough_best = earlier["thorough_seconds"], earlier["thorough_n_best_starts"]
                thorough_loglik, thorough_params = earlier["thorough_loglik"], earlier["thorough_params"]
            else:
                started = time.perf_counter()
                thorough = ClusterwiseRegression(**options, n_init=n_init, random_state=0).fit(X, y)
                thorough_seconds, thorough_best = time.perf_counter() - started, int(thorough.n_best_starts_)
                thorough_loglik = float(thorough.loglik_)
                thorough_params = {"weights": thorough.weights_.tolist(), "beta": thorough.params_.beta.tolist(),
                                   "extra": thorough.extra_.tolist()}
            loglik = _new_engine_loglik(thorough, X, y)
            rescored = {f"{r['label']}/{r['seed']}": loglik(r) for r in cell}
            shift = {label: max((abs(rescored[f"{r['label']}/{r['seed']}"] - r["loglik"]) for r in cell
                                 if r["label"] == label), default=None) for label in ("before", "after")}
            candidates = {f"trustseg n_init={n_init}": thorough_loglik}
            for label in ("before", "after"):
                mine = {key: v for key, v in rescored.items() if key.startswith(label + "/")}
                if mine:
                    top = max(mine, key=mine.get)
                    candidates[f"recorded {label} (seed {top.split('/')[1]})"] = mine[top]
            source = max(candidates, key=candidates.get)
            reference[f"{name}/{n}"] = {
                "scenario": name, "n": n, "k": k, "family": family, "best_loglik": candidates[source],
                "best_source": source, "candidates": candidates, "rescored": rescored,
                "max_rescoring_shift": shift, "thorough_seconds": round(thorough_seconds, 2), "thorough_n_init": n_init,
                "thorough_loglik": thorough_loglik, "thorough_params": thorough_params,
                "thorough_n_best_starts": thorough_best, "thorough_k": int(thorough.n_segments_),
                "engine": engine_fingerprint(), "when": time.strftime("%Y-%m-%d %H:%M:%S"),
            }
            print(f"reference {family} {name} n={n}: {candidates[source]:.4f} from {source} "
                  f"(thorough {thorough_seconds:.1f} s; rescoring shift {shift})", flush=True)
            out_path.write_text(json.dumps(reference, indent=1))


def _model_params(model):
    return {"intercept": model.intercept_, "coef": model.coef_, "sigma": model.sigma_, "weights": model.weights_}


# -- report -----------------------------------------------------------------


def reached(loglik, best, rtol):
    return loglik is not None and abs(loglik - best) <= rtol * max(abs(best), 1.0)


def _select_engine(fits, engine):
    """The trustseg fits of one engine fingerprint (default: the one recorded last)."""
    if engine == "all" or not fits:
        return fits
    chosen = max(fits, key=lambda r: r["when"])["engine"] if engine == "latest" else engine
    return [r for r in fits if r["engine"] == chosen]


def _trustseg_notes(cell, ok):
    """Median n_best_starts, what the start at the truth reached, and a warning for a degenerate best."""
    best = cell["best_loglik"]
    notes = [f"median n_best_starts {np.median([r['n_best_starts'] for r in ok]):.0f}"] if ok else []
    at_truth = cell["candidates"].get("start at truth")
    if at_truth is not None:
        notes.append("truth start reaches best" if reached(at_truth, best, TRUSTSEG_RTOL)
                     else f"truth start {at_truth - best:+.3g}")
    if cell.get("best_min_sigma", np.inf) <= 1.01 * cell.get("variance_floor_sigma", 0.0):
        notes.append(f"best known has a segment on the variance floor (sigma {cell['best_min_sigma']:.3g}, "
                     f"share {cell['best_min_sigma_share']:.1%}): spurious?")
    return notes


def _seconds(value):
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def report(results_dir, engine):
    results_dir = Path(results_dir)
    reference = json.loads((results_dir / "reference.json").read_text())
    records = recorded(results_dir / "trustseg.jsonl") + recorded(results_dir / "flexmix.jsonl")
    rows, engines = [], set()
    cells = sorted(reference.values(), key=lambda c: (list(SCENARIOS).index(c["scenario"]), c["n"]))
    for cell in cells:
        name, n, best = cell["scenario"], cell["n"], cell["best_loglik"]
        medians = {}
        for tool, rtol in (("trustseg", TRUSTSEG_RTOL), ("flexmix", FLEXMIX_RTOL)):
            fits = [r for r in records if r["tool"] == tool and r["scenario"] == name and r["n"] == n]
            if tool == "trustseg":
                fits = _select_engine(fits, engine)
                engines |= {r["engine"] for r in fits}
            if not fits:
                continue
            ok = [r for r in fits if r["status"] == "ok"]
            hits = sum(reached(r["loglik"], best, rtol) for r in ok)
            # a timeout counts as the timeout; a failed fit has no time
            seconds = np.array([r["seconds"] for r in fits if "seconds" in r] or [np.nan])
            medians[tool] = float(np.median(seconds))
            failed = len(fits) - len(ok)
            gaps = [best - r["loglik"] for r in ok]
            # the optimum EM reaches from the generating parameters; a higher
            # "best known" is often a spurious small, tight segment
            at_truth = cell["candidates"]["start at truth"]
            truth_hits = sum(r["loglik"] >= at_truth - rtol * max(abs(at_truth), 1.0) for r in ok)
            row = {
                "scenario": name, "n": f"{n:,}", "tool": tool,
                "seeds": f"{len(fits)}" + (f" ({failed} timed out/failed)" if failed else ""),
                "reach best": f"{hits}/{len(fits)}",
                "≥ truth start": f"{truth_hits}/{len(fits)}",
                "median gap": f"{np.median(gaps):.3g}" if gaps else "",
                "median s": _seconds(medians[tool]), "max s": _seconds(float(np.max(seconds))),
                "flexmix/trustseg": "",
            }
            if tool == "flexmix":
                polished = cell.get("flexmix_polished", {})
                basin = sum(reached(polished.get(str(r["seed"])), best, TRUSTSEG_RTOL) for r in ok)
                short = sum(r["k_fitted"] < r["k"] for r in ok)
                near = sum(best - r["loglik"] <= 0.5 for r in ok)
                row["notes"] = f"within 0.5: {near}/{len(fits)}; basin {basin}/{len(fits)}" + (
                    f"; {short} fits lost a segment" if short else "")
                unconverged = sum(not r["converged"] for r in ok)
                if unconverged:
                    row["notes"] += f"; {unconverged} stopped at iter.max"
                if "trustseg" in medians:
                    row["flexmix/trustseg"] = f"{medians['flexmix'] / medians['trustseg']:.2g}×"
            else:
                row["notes"] = "; ".join(_trustseg_notes(cell, ok))
            rows.append(row)
    header = list(rows[0]) if rows else []
    lines = [
        f"Best known log-likelihood per scenario and n: max over every recorded fit, trustseg n_init=200, a start "
        f"at the true parameters and starts at every flexmix solution (data seed {DATA_SEED}).",
        "",
        "* reach best: trustseg within a relative 1e-6 of the best known; flexmix within a relative 1e-5, because "
        "flexmix evaluates its log-likelihood with a df-corrected sigma and stops EM at a relative change of 1e-6.",
        "* within 0.5: flexmix fits within 0.5 log-likelihood units of the best known.  basin: flexmix fits whose "
        "solution, run on by trustseg's EM + Newton (``init_params``), reaches the best known (relative 1e-6), i.e. "
        "flexmix was at the right optimum but stopped short of its top.",
        "* ≥ truth start: fits at or above the optimum that EM reaches from the true parameters (same tolerances); "
        "where the best known lies above it, it usually holds a small segment with a small residual SD, a "
        "spurious maximizer in the sense of McLachlan and Peel (2000, sec. 3.10).",
        "* median gap: best known minus the fit's log-likelihood.  Seconds: the fit alone, one process per fit; "
        "a timed-out fit counts as the timeout.",
        f"* trustseg engine fingerprint(s): {', '.join(sorted(engines)) or 'none'}.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if h in ("scenario", "tool", "notes") else "---:" for h in header) + "|",
    ]
    lines += ["| " + " | ".join(str(row.get(h, "")) for h in header) + " |" for row in rows]
    return "\n".join(lines)


def _engine_cell(fits, best, rescored):
    """Seeds at the best known, timeouts/failures and median seconds of one engine's fits of a cell."""
    ok = [r for r in fits if r["status"] == "ok"]
    hits = sum(reached(rescored.get(f"{r['label']}/{r['seed']}", r["loglik"]), best, TRUSTSEG_RTOL) for r in ok)
    seconds = [r["seconds"] for r in fits if "seconds" in r]  # a timeout counts as the timeout
    cpu = [r.get("cpu_seconds", r["seconds"]) for r in fits if "seconds" in r]
    timeouts = sum(r["status"] == "timeout" for r in fits)
    return {"hits": hits, "fits": len(fits), "timeouts": timeouts, "failed": len(fits) - len(ok) - timeouts,
            "median": float(np.median(seconds)) if seconds else float("nan"),
            "cpu": float(np.median(cpu)) if cpu else float("nan"),
            "gaps": [best - rescored.get(f"{r['label']}/{r['seed']}", r["loglik"]) for r in ok]}


def family_report(results_dir, family):
    """The Markdown table of a censored/ordinal matrix: before and after side by side, per scenario and n."""
    results_dir = Path(results_dir)
    reference = json.loads((results_dir / f"reference_{family}.json").read_text())
    records = recorded(results_dir / results_name("trustseg", family))
    engines = {}
    lines = [
        "| scenario | n | K | family | at best: before | at best: after | CPU s: before | CPU s: after "
        "| before/after | elapsed s: before | elapsed s: after | notes |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    cells = sorted(reference.values(), key=lambda c: (c["n"], list(FAMILY_SCENARIOS).index(c["scenario"])))
    for cell in cells:
        name, n, best = cell["scenario"], cell["n"], cell["best_loglik"]
        shown, notes, starts = {}, [], {}
        for label in ("before", "after"):
            # one engine per label: the fingerprint recorded last (an engine changed since is not mixed in)
            fits = _select_engine([r for r in records if r["scenario"] == name and r["n"] == n
                                   and r["label"] == label], "latest")
            engines.update({r["engine"]: label for r in fits})
            if not fits:
                shown[label] = None
                continue
            shown[label] = c = _engine_cell(fits, best, cell["rescored"])
            if c["timeouts"] or c["failed"]:
                notes.append(f"{label}: {c['timeouts']} timed out, {c['failed']} failed")
            ok = [r for r in fits if r["status"] == "ok"]
            if ok:
                starts[label] = (f"{np.median([r['n_best_starts'] for r in ok]):.0f}/"
                                 f"{np.median([len(r['start_logliks']) for r in ok]):.0f}")
            misses = [g for g in c["gaps"] if g > TRUSTSEG_RTOL * max(abs(best), 1.0)]
            if misses:
                notes.append(f"{label} misses {len(misses)}, median gap {np.median(misses):.3g}")
        if not starts and not any(shown.values()):
            continue  # no fit of this cell in these results
        notes.insert(0, "starts at the fit's best (median): " + ", ".join(f"{k} {v}" for k, v in starts.items()))
        if not any(c and c["hits"] for c in shown.values()):
            notes.append(f"best from {cell['best_source']}")

        def hits(c):
            return f"{c['hits']}/{c['fits']}" if c else "not run"

        def secs(c, key):
            return _seconds(c[key]) if c else ""

        before, after = shown["before"], shown["after"]
        ratio = f"{before['cpu'] / after['cpu']:.2g}×" if before and after else ""
        lines.append(f"| {name} | {n:,} | {cell['k']} | {family} | {hits(before)} | {hits(after)} "
                     f"| {secs(before, 'cpu')} | {secs(after, 'cpu')} | {ratio} "
                     f"| {secs(before, 'median')} | {secs(after, 'median')} | {'; '.join(notes)} |")
    header = [
        f"Best known log-likelihood per scenario and n: the maximum over every recorded fit (both engines, each "
        f"rescored by the after engine's likelihood) and an after-engine fit with n_init=100 (data seed {DATA_SEED}).",
        "at best: fits within a relative 1e-6 of it.  Seconds: the fit alone (CPU: process time; elapsed: "
        "wall clock), one process per fit, median over seeds; a timed-out fit counts as the timeout.  "
        "before/after: the ratio of the CPU medians.",
        "Engines: " + ", ".join(f"{label} = {fingerprint}" for fingerprint, label in sorted(engines.items())) + ".",
        "",
    ]
    return "\n".join(header + lines)


# -- command line -------------------------------------------------------------

DEFAULT_SIZES = [1000, 100_000, 1_000_000]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p, sizes_default, results=True):
        p.add_argument("--n", type=int, nargs="+", default=sizes_default)
        p.add_argument("--family", default="gaussian", choices=FAMILY_CHOICES,
                       help="gaussian (the flexmix matrix) or the censored/ordinal scenarios of family_scenarios.py")
        p.add_argument("--scenarios", nargs="+", default=None,
                       help=f"default: every scenario of the family (gaussian: {', '.join(SCENARIOS)}; "
                            f"censored/ordinal: {', '.join(FAMILY_SCENARIOS)})")
        p.add_argument("--data", default=str(ROOT / "data"), help="data directory (default /tmp/bench9/data)")
        if results:
            p.add_argument("--results", default=str(ROOT / "results"),
                           help="results directory (default /tmp/bench9/results)")

    p = sub.add_parser("data", help="write every scenario's data as CSV and .npz")
    common(p, DEFAULT_SIZES, results=False)
    p.add_argument("--out", default=str(ROOT / "data"))
    p.add_argument("--force", action="store_true", help="rewrite files that exist")
    for tool in ("flexmix", "trustseg"):
        p = sub.add_parser(tool, help=f"fit {tool} per scenario and seed (one process per fit)")
        common(p, [1000])
        p.add_argument("--seeds", type=int, default=20, help="seeds 1..SEEDS (R seed / random_state)")
        p.add_argument("--timeout", type=float, default=900)
        if tool == "flexmix":
            p.add_argument("--nrep", type=int, default=10)
        else:
            p.add_argument("--engine-label", default="after", choices=["after", "before"],
                           help="censored/ordinal only: 'after' fits with the installed trustseg, 'before' with the "
                                "engine before the one-engine refactor (--before-src first on PYTHONPATH)")
            p.add_argument("--before-src", default=str(BEFORE_SRC),
                           help=f"directory holding the old package trustseg (default {BEFORE_SRC})")
    p = sub.add_parser("reference", help="best known log-likelihood per scenario and size")
    common(p, DEFAULT_SIZES)
    p.add_argument("--n-init", type=int, default=None,
                   help="starts of the thorough trustseg fit (default 200; 100 for censored/ordinal)")
    p = sub.add_parser("report", help="print the Markdown table")
    p.add_argument("--results", default=str(ROOT / "results"))
    p.add_argument("--family", default="gaussian", choices=FAMILY_CHOICES)
    p.add_argument("--engine", default="latest", help="trustseg engine fingerprint to report, 'latest' or 'all' "
                   "(gaussian only; censored/ordinal show before and after side by side)")
    p = sub.add_parser("fit")  # internal: one trustseg fit, run by the trustseg command
    p.add_argument("npz")
    p.add_argument("k", type=int)
    p.add_argument("seed", type=int)
    p.add_argument("--family", default="gaussian", choices=FAMILY_CHOICES)

    args = parser.parse_args(argv)
    family = args.family
    if getattr(args, "scenarios", None) is None and args.command not in ("report", "fit"):
        args.scenarios = list(scenario_specs(family))
    elif getattr(args, "scenarios", None):
        unknown = sorted(set(args.scenarios) - set(scenario_specs(family)))
        if unknown:
            parser.error(f"unknown {family} scenarios {unknown}; choose from {list(scenario_specs(family))}")
    if args.command == "data":
        make_data(args.n, args.scenarios, args.out, args.force, family)
    elif args.command == "flexmix":
        if family != "gaussian":
            parser.error("flexmix has no censored or ordinal family: compare the engines with the trustseg command")
        run_matrix("flexmix", args.n, args.scenarios, args.seeds, args.data, args.results, args.timeout,
                   flexmix_command(args.nrep), None)
    elif args.command == "trustseg" and family == "gaussian":
        run_matrix("trustseg", args.n, args.scenarios, args.seeds, args.data, args.results, args.timeout,
                   trustseg_command, engine_fingerprint())
    elif args.command == "trustseg":
        before = args.engine_label == "before"
        package = Path(args.before_src) / "trustseg" if before else None
        if before and not (package / "model" / "mixture.py").exists():
            parser.error(f"{package} holds no trustseg package")
        run_matrix("trustseg", args.n, args.scenarios, args.seeds, args.data, args.results, args.timeout,
                   family_command(family), engine_fingerprint(package), family, args.engine_label,
                   {"PYTHONPATH": str(Path(args.before_src))} if before else None)
    elif args.command == "reference" and family == "gaussian":
        build_reference(args.n, args.scenarios, args.data, args.results, args.n_init or 200)
    elif args.command == "reference":
        build_family_reference(args.n, args.scenarios, family, args.data, args.results, args.n_init or 100)
    elif args.command == "report":
        print(report(args.results, args.engine) if family == "gaussian" else family_report(args.results, family))
    elif family == "gaussian":
        fit_worker(args.npz, args.k, args.seed)
    else:
        family_fit_worker(args.npz, args.k, args.seed, family)


if __name__ == "__main__":
    main()

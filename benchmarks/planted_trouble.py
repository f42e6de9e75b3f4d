"""Monte Carlo: surveys with planted trouble. Is the true K chosen, are its slopes covered, is the trouble set aside?

    python benchmarks/planted_trouble.py [--seeds 50] [--n 300 1000] [--designs pile binary ends clean] [--n-init 10]
    python benchmarks/planted_trouble.py --summary-only [--results FILE]

Issue 23's evidence: coarse survey answers with a group of respondents planted
to tempt the likelihood into a spurious segment.  Every design has two true
regression segments; the planted respondents are not a regression segment
(their answer does not depend on the predictors, and sits at one value or at
the two ends of the scale):

``pile``
    A golf-like survey: satisfaction the mean of four 7-point items,
    repurchase the mean of three (19 values), two segments (a driven one,
    0.3 + 0.8 s, and a loyal one, 4.6 + 0.25 s, residual SD 0.6 before
    item noise and rounding; shares 0.45 and 0.30);
    a quarter of the respondents answered 4 to every repurchase item
    whatever their satisfaction (a pile at 4.0).  Censored family on [1, 7].
``binary``
    One 11-point rating item (0-10, integers) explained by six yes/no
    predictors (64 answer profiles: subsets that a plane fits exactly
    exist); two segments of 45% and 55% with different coefficients,
    residual SD 1.2 and 1.0.  Gaussian family (the workflow's default for a
    single item), the floor of a single integer item (1/12).
``ends``
    As ``pile``, but 15% of the respondents sit at the two ends of the
    outcome scale whatever their satisfaction: two thirds at 1, one third at
    7.  Censored family on [1, 7] (the default for scores).
``clean``
    The control: ``pile`` without the planted group, so that what the
    planted groups change can be told from what the model itself misses
    (item-level rounding and clipping are not exactly a censored normal).

What counts as truth.  The rule (``model/admissibility.py``) calls a segment
that is (nearly) one answer value, or whose censored spread puts most of its
mass at the two ends, spurious: it is a pile of the answer scale, not a
relation between the predictors and the outcome.  The planted respondents are
exactly that, so the admissible answer has the two true regression segments:
**true K = 2** in every design.  A chosen K = 3 whose third segment is made
of the planted respondents is counted apart ("planted group its own
segment"), flagged or not: it describes the planted group, which exists, but
as a regression it says nothing (slope ~0 by construction).

Per data set the package's own selection path runs as the workflow does:
``select_segments`` over K = 1..3, BIC, the admissible search
(``admissible_only=True``), ``n_init`` starts, the workflow's variance
floor.  Recorded: the chosen K; for the K = 2 fit and for the chosen fit the
fitted segments matched to the true ones by posterior overlap on the
non-planted respondents (the pairing with the largest total overlap), whether
the true focal slope is inside each matched segment's 95% interval (observed
information), also in the K = 3 fit (which can hold the planted group
as a segment of its own beside the two true ones); the fitted segment, if
any, whose posterior mass is mostly planted respondents, and its problems; what the search set aside
(``set_aside_``) and the warning sentence; CPU seconds.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from trustseg.model.diagnostics import set_aside_sentence
from trustseg.model.selection import select_segments
from trustseg.stages.fit import outcome_variance_floor

SCORE = {"intercept": [0.3, 4.6], "slope": [0.8, 0.25], "sigma": [0.6, 0.6]}
DESIGNS = {
    "clean": {"family": "censored", "options": {"lower": 1.0, "upper": 7.0}, "planted": 0.0, "items": 3},
    "pile": {"family": "censored", "options": {"lower": 1.0, "upper": 7.0}, "planted": 0.25, "items": 3},
    "binary": {"family": "gaussian", "options": {}, "planted": 0.0, "items": 1},
    "ends": {"family": "censored", "options": {"lower": 1.0, "upper": 7.0}, "planted": 0.15, "items": 3},
}
BINARY = {"intercept": [2.5, 6.5], "coef": [[2.0, 1.5, -1.0, 0.5, 0.0, 1.0], [-0.5, 0.0, 1.0, -1.5, 1.0, 0.0]],
          "sigma": [1.2, 1.0], "shares": [0.45, 0.55]}
TRUE_K = 2
FOCAL = {"clean": "satisfaction", "pile": "satisfaction", "binary": "x1", "ends": "satisfaction"}


def _items(level, noise, n_items, rng):
    answers = np.rint(level[:, None] + rng.normal(0.0, noise, (len(level), n_items)))
    return np.clip(answers, 1, 7).mean(axis=1)


def _score_survey(design, n, rng):
    """Two regression segments of 1-7 item means plus the planted group (segment label 2)."""
    planted = DESIGNS[design]["planted"]
    shares = np.array([0.6, 0.4]) * (1 - planted)
    segment = rng.choice(3, size=n, p=[*shares, planted])
    satisfaction = _items(rng.normal(4.5, 1.2, n), 0.8, 4, rng)
    true = segment < 2
    line = np.asarray(SCORE["intercept"])[segment[true]] + np.asarray(SCORE["slope"])[segment[true]] * satisfaction[
        true] + rng.normal(0.0, np.asarray(SCORE["sigma"])[segment[true]])
    y = np.empty(n)
    y[true] = _items(line, 0.5, 3, rng)
    k = int((~true).sum())
    if not k:
        return pd.DataFrame({"satisfaction": satisfaction}), y, segment
    if design == "pile":
        y[~true] = 4.0
    else:  # two thirds at the bottom of the scale, a third at the top
        y[~true] = np.where(rng.random(k) < 2 / 3, 1.0, 7.0)
    return pd.DataFrame({"satisfaction": satisfaction}), y, segment


def _binary_survey(n, rng):
    segment = rng.choice(2, size=n, p=BINARY["shares"])
    X = rng.integers(0, 2, size=(n, 6)).astype(float)
    mean = np.asarray(BINARY["intercept"])[segment] + np.einsum("ij,ij->i", X, np.asarray(BINARY["coef"])[segment])
    y = np.clip(np.rint(mean + rng.normal(0.0, np.asarray(BINARY["sigma"])[segment])), 0, 10)
    return pd.DataFrame(X, columns=[f"x{j + 1}" for j in range(6)]), y, segment


def simulate(design, n, seed):
    """Predictors, outcome and each respondent's true segment (2 = planted group)."""
    rng = np.random.default_rng([seed, n, list(DESIGNS).index(design), 23])
    return _binary_survey(n, rng) if design == "binary" else _score_survey(design, n, rng)


def _match(posterior, segment, exclude=None):
    """The fitted segment of each true segment (0, 1): the pairing with the largest posterior overlap.

    ``exclude`` (the planted group's segment) is left out when enough others remain.
    """
    overlap = np.stack([posterior[segment == t].sum(axis=0) for t in range(TRUE_K)])  # (2, K)
    candidates = [j for j in range(posterior.shape[1]) if j != exclude]
    if len(candidates) < TRUE_K:
        candidates = list(range(posterior.shape[1]))
    pairs = itertools.permutations(candidates, TRUE_K)
    return max(pairs, key=lambda pair: sum(overlap[t, j] for t, j in enumerate(pair)))


def _planted_segment(posterior, segment):
    """The fitted segment whose posterior mass is mostly planted respondents, and that share (None, 0 if none)."""
    planted = segment == 2
    if not planted.any():
        return None, 0.0
    share = posterior[planted].sum(axis=0) / np.maximum(posterior.sum(axis=0), 1e-12)
    j = int(share.argmax())
    return (j, float(share[j])) if share[j] > 0.5 else (None, float(share[j]))


def true_slopes(design):
    """The two true segments' focal slopes."""
    return [BINARY["coef"][0][0], BINARY["coef"][1][0]] if design == "binary" else SCORE["slope"]


def _recovery(model, X, y, segment, design):
    """Matched segments, their focal slope, interval and whether it covers the truth; the planted group's segment."""
    posterior = model.predict_proba(X, y)
    planted, share = _planted_segment(posterior, segment)
    pair = _match(posterior, segment, exclude=planted)
    table = model.inference(X, y).params
    rows = table[table["term"] == FOCAL[design]].set_index("segment")
    slopes = true_slopes(design)
    out = {"matched": [int(j) + 1 for j in pair]}
    out["slope"] = [float(rows.loc[j + 1, "estimate"]) for j in pair]
    out["ci"] = [[float(rows.loc[j + 1, "ci_low"]), float(rows.loc[j + 1, "ci_high"])] for j in pair]
    out["covered"] = [bool(lo <= s <= hi) for s, (lo, hi) in zip(slopes, out["ci"])]
    out["planted_segment"] = None
    if planted is not None:
        out["planted_segment"] = {"segment": planted + 1, "planted_share": share,
                                  "size": float(posterior[:, planted].sum()),
                                  "problems": str(model.problems_[planted] or "")}
    return out


def _selected(design, n, seed, n_init, k_max, set_aside=False):
    """One simulated survey through the selection path: X, y, true segments, table, models, CPU seconds."""
    X, y, segment = simulate(design, n, seed)
    spec = DESIGNS[design]
    floor = outcome_variance_floor(y, None, 1.0 / (12.0 * spec["items"]))
    started = time.process_time()
    table, models = select_segments(
        X, y, k_range=range(1, k_max + 1), n_init=n_init, random_state=seed, criterion="bic",
        return_models=True, family=spec["family"], family_options=spec["options"] or None,
        variance_floor=floor, focal=FOCAL[design], set_aside=set_aside)
    return X, y, segment, table, models, time.process_time() - started


def one_data_set(design, n, seed, n_init, k_max):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X, y, segment, table, models, seconds = _selected(design, n, seed, n_init, k_max)
        chosen = int(table.loc[table["chosen"].astype(bool), "k"].iloc[0])
        record = {"design": design, "n": n, "seed": seed, "n_init": n_init, "chosen_k": chosen,
                  "problems": {int(k): str(p or "") for k, p in zip(table["k"], table["problems"])},
                  "bic": {int(k): float(b) for k, b in zip(table["k"], table["bic"])},
                  "set_aside": {k: [{"loglik": float(r["loglik"]), "higher": bool(r["loglik"] > m.loglik_),
                                     "weights": [round(float(w), 3) for w in r["weights"]],
                                     "kinds": [";".join(sorted(f)) for f in r["flaws"]]}
                                    for r in m.set_aside_] for k, m in models.items() if m.set_aside_},
                  "sentence": {k: set_aside_sentence(m) for k, m in models.items() if set_aside_sentence(m)},
                  "planted": int((segment == 2).sum()), "seconds": seconds}
        if models[TRUE_K].n_segments_ == TRUE_K:
            record["true_k_fit"] = _recovery(models[TRUE_K], X, y, segment, design)
        if chosen >= TRUE_K:
            record["chosen_fit"] = _recovery(models[chosen], X, y, segment, design)
        if k_max > TRUE_K and models[TRUE_K + 1].n_segments_ == TRUE_K + 1:
            record["plus_one_fit"] = _recovery(models[TRUE_K + 1], X, y, segment, design)
    return record


def _set_aside_recovery(fit, X, y, segment, design):
    """The chosen fit's matched segments and slope coverage; with a set-aside group, who is in it."""
    posterior = fit.predict_proba(X, y)
    k = posterior.shape[1] - (1 if hasattr(fit, "set_aside_posteriors_") else 0)
    pair = _match(posterior[:, :k], segment)
    table = fit.inference(X, y).params
    rows = table[table["term"] == FOCAL[design]].set_index("segment")
    slopes = true_slopes(design)
    out = {"matched": [int(j) + 1 for j in pair], "slope": [float(rows.loc[j + 1, "estimate"]) for j in pair]}
    out["ci"] = [[float(rows.loc[j + 1, "ci_low"]), float(rows.loc[j + 1, "ci_high"])] for j in pair]
    out["covered"] = [bool(lo <= s <= hi) for s, (lo, hi) in zip(slopes, out["ci"])]
    if k < posterior.shape[1]:
        tau = posterior[:, -1]
        out["planted_set_aside"] = float(tau[segment == 2].mean()) if (segment == 2).any() else None
        out["members_set_aside"] = float(tau[segment < 2].mean())
        out["set_aside_size"] = float(tau.sum())
    return out


def one_data_set_set_aside(design, n, seed, n_init, k_max):
    """As :func:`one_data_set`, with ``select_segments(..., set_aside=True)``: the choice and the chosen fit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X, y, segment, table, models, seconds = _selected(design, n, seed, n_init, k_max, set_aside=True)
        row = table.loc[table["chosen"].astype(bool)].iloc[0]
        answers = row["set_aside_answers"]
        key = int(row["k"]) if answers is None else (int(row["k"]), tuple(answers))
        record = {"design": design, "n": n, "seed": seed, "n_init": n_init, "mode": "set_aside",
                  "chosen_k": int(row["k"]), "chosen_answers": None if answers is None else list(answers),
                  "rows": [{"k": int(r["k"]), "answers": None if r["set_aside_answers"] is None
                            else list(r["set_aside_answers"]), "bic": float(r["bic"]), "problems": str(r["problems"])}
                           for _, r in table.iterrows()],
                  "planted": int((segment == 2).sum()), "seconds": seconds}
        if int(row["k"]) == TRUE_K:
            record["chosen_fit"] = _set_aside_recovery(models[key], X, y, segment, design)
    return record


def summary_set_aside(records):
    """Per design and n: the true K chosen, with a set-aside group how often, coverage, who was set aside."""
    rows = []
    for (design, n), part in pd.DataFrame(records).groupby(["design", "n"], sort=False):
        fits = [f for f in part.get("chosen_fit", pd.Series(dtype=object)).dropna()]
        # read from the recorded intervals (runs before 2026-12-07 evening scored binary against the score slopes)
        covered = np.array([[lo <= s <= hi for s, (lo, hi) in zip(true_slopes(design), f["ci"])] for f in fits]
                           ) if fits else np.zeros((0, 2))
        aside = [f for f in fits if "members_set_aside" in f]
        planted = [f["planted_set_aside"] for f in aside if f.get("planted_set_aside") is not None]
        rows.append({
            "design": design, "n": n, "data sets": len(part),
            "chosen K (count)": ", ".join(f"{k}: {v}" for k, v in part["chosen_k"].value_counts().sort_index().items()),
            "true K = 2 chosen": f"{(part['chosen_k'] == TRUE_K).mean():.0%}",
            "with a set-aside group": f"{part['chosen_answers'].map(lambda a: a is not None).mean():.0%}",
            "slopes covered (seg 1, seg 2)": (f"{covered[:, 0].mean():.0%}, {covered[:, 1].mean():.0%}"
                                              if len(covered) else "-"),
            "planted respondents set aside (mean posterior)": f"{np.mean(planted):.2f}" if planted else "-",
            "segment members set aside (mean posterior)": (f"{np.mean([f['members_set_aside'] for f in aside]):.3f}"
                                                           if aside else "-"),
            "median s": f"{part['seconds'].median():.1f}",
        })
    return pd.DataFrame(rows).to_markdown(index=False)


def _plus_one(part):
    """In the K = 3 fits: how often the planted group is a segment of its own (flagged), and the true slopes'
    coverage by the other two segments there."""
    fits = [f for f in part.get("plus_one_fit", pd.Series(dtype=object)).dropna()
            if f.get("planted_segment") and f["planted_segment"]["segment"] not in f["matched"]]
    if not fits:
        return "-"
    covered = np.array([f["covered"] for f in fits])
    flagged = sum(bool(f["planted_segment"]["problems"]) for f in fits)
    return f"{len(fits)} ({flagged}); {covered[:, 0].mean():.0%}, {covered[:, 1].mean():.0%}"


def summary(records):
    frame = pd.DataFrame(records)
    rows = []
    for (design, n), part in frame.groupby(["design", "n"], sort=False):
        true_fit = part["true_k_fit"].dropna()
        chosen_fit = part["chosen_fit"].dropna() if "chosen_fit" in part else pd.Series(dtype=object)
        covered = np.array([f["covered"] for f in true_fit]) if len(true_fit) else np.zeros((0, 2))
        own = [f["planted_segment"] for f in chosen_fit if f.get("planted_segment")]
        flagged = sum(bool(p["problems"]) for p in own)
        aside = part["set_aside"].map(lambda s: any(r["higher"] for rs in s.values() for r in rs))
        named = part["sentence"].map(bool)
        counts = part["chosen_k"].value_counts().sort_index()
        rows.append({
            "design": design, "n": n, "data sets": len(part),
            "chosen K (count)": ", ".join(f"{k}: {v}" for k, v in counts.items()),
            "true K = 2 chosen": f"{(part['chosen_k'] == TRUE_K).mean():.0%}",
            "K = 2 slopes covered (seg 1, seg 2)": (f"{covered[:, 0].mean():.0%}, {covered[:, 1].mean():.0%}"
                                                   if len(covered) else "-"),
            "K = 3: planted group a segment (flagged); true slopes covered": _plus_one(part),
            "planted group its own segment (flagged)": f"{len(own)} ({flagged})",
            "higher spurious set aside / named": f"{aside.sum()} / {named.sum()}",
            "median s": f"{part['seconds'].median():.1f}",
        })
    return pd.DataFrame(rows).to_markdown(index=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--n", type=int, nargs="+", default=[300, 1000])
    parser.add_argument("--designs", nargs="+", default=list(DESIGNS), choices=list(DESIGNS))
    parser.add_argument("--n-init", type=int, default=10)
    parser.add_argument("--k-max", type=int, default=3)
    parser.add_argument("--results", type=Path, default=Path("/tmp/planted_trouble.jsonl"))
    parser.add_argument("--summary-only", action="store_true")
    parser.add_argument("--set-aside", action="store_true",
                        help="choose among K segments with and without a set-aside group (select_segments set_aside)")
    args = parser.parse_args()
    fit_one, summarise = (one_data_set_set_aside, summary_set_aside) if args.set_aside else (one_data_set, summary)
    done = set()
    if args.results.exists():
        done = {(r["design"], r["n"], r["seed"]) for r in map(json.loads, args.results.open())}
    if not args.summary_only:
        with args.results.open("a") as out:
            for design in args.designs:
                for n in args.n:
                    for seed in range(args.first_seed, args.first_seed + args.seeds):
                        if (design, n, seed) not in done:
                            out.write(json.dumps(fit_one(design, n, seed, args.n_init, args.k_max)) + "\n")
                            out.flush()
    print(summarise([json.loads(line) for line in args.results.open()]))


if __name__ == "__main__":
    main()

"""Who the segments are: the profile table.

:func:`profile_table` describes each profile variable (demographics,
membership type...) within each segment (shares of every level, or mean and
SD) and tests whether the segments differ (chi-square with Cramer's V;
one-way ANOVA with eta squared and Kruskal-Wallis).  Respondents enter
through their modal segment, or, with ``posteriors``, the descriptive values
are posterior-weighted.  Which segment a respondent's profile predicts is
the membership model's question (:mod:`trustseg.model.membership`).

Edge cases (a variable with one level, all values missing, segments too small
for a test, a single segment) never stop the analysis: they are written in a
``note`` column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from trustseg.model.classification import check_posteriors
from trustseg.model.levels import MAX_LEVELS, check_variables, is_categorical, level_text, variable_levels

__all__ = ["profile_table", "PROFILE_COLUMNS"]

PROFILE_COLUMNS = [
    "variable", "kind", "level", "segment", "n", "value", "sd", "overall",
    "test", "statistic", "df", "p_value", "effect_size", "effect_measure",
    "alt_test", "alt_statistic", "alt_p_value", "n_missing", "note",
]


def _segment_labels(data: pd.DataFrame, segment, posteriors) -> tuple[pd.Series, list[int]]:
    if isinstance(segment, pd.Series):
        if len(segment) == len(data) and not segment.index.equals(data.index):
            if set(segment.index) >= set(data.index):
                seg = segment.reindex(data.index)
            else:
                seg = pd.Series(segment.to_numpy(), index=data.index)
        else:
            seg = segment.reindex(data.index)
    else:
        arr = np.asarray(segment)
        if arr.shape[0] != len(data):
            raise ValueError(f"segment has {arr.shape[0]} values for {len(data)} respondents")
        seg = pd.Series(arr, index=data.index)
    if posteriors is not None:
        k = np.asarray(posteriors).shape[1] if np.asarray(posteriors).ndim == 2 else 1
        labels = list(range(1, k + 1))
    else:
        labels = sorted(int(v) for v in pd.unique(seg.dropna()))
    return seg, labels


def _chi2_stat(codes_x: np.ndarray, codes_s: np.ndarray, r: int, c: int) -> float:
    table = np.bincount(codes_x * c + codes_s, minlength=r * c).reshape(r, c).astype(float)
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.nansum((table - expected) ** 2 / expected))


def _categorical_rows(name, x, seg, labels, post, n_missing, n_permutations, rng, order=None):
    rows = []
    valid = x.notna() & seg.notna()
    levels = variable_levels(x[valid], order) if valid.any() else []
    base = dict(variable=name, kind="categorical", n_missing=n_missing, test="", statistic=np.nan, df=np.nan,
                p_value=np.nan, effect_size=np.nan, effect_measure="", alt_test="", alt_statistic=np.nan,
                alt_p_value=np.nan, sd=np.nan)
    if not levels:
        note = "all values missing" if x.isna().all() else "no respondent with both a value and a segment"
        for k in labels:
            rows.append({**base, "level": "", "segment": k, "n": 0, "value": np.nan, "overall": np.nan, "note": note})
        return rows
    xs = x[valid]
    ss = seg[valid].astype(int)
    lev_index = {lv: i for i, lv in enumerate(levels)}
    codes_x = xs.map(lev_index).to_numpy(dtype=int)
    seg_index = {k: j for j, k in enumerate(labels)}
    codes_s = ss.map(seg_index).to_numpy()
    in_labels = ~pd.isna(codes_s)
    codes_x, codes_s = codes_x[in_labels], codes_s[in_labels].astype(int)
    r, c = len(levels), len(labels)
    counts = np.bincount(codes_x * c + codes_s, minlength=r * c).reshape(r, c)
    if post is not None:
        pv = post[valid.to_numpy()][in_labels]
        onehot = np.eye(r)[codes_x]
        mass = onehot.T @ pv  # r x K posterior-weighted counts
        seg_tot = mass.sum(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = np.where(seg_tot > 0, mass / seg_tot, np.nan)
    else:
        seg_tot = counts.sum(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = np.where(seg_tot > 0, counts / np.maximum(seg_tot, 1), np.nan)
    overall = counts.sum(1) / counts.sum()

    notes = []
    test = dict()
    nonempty = counts.sum(0) > 0
    if r < 2:
        notes.append(f"single level ({level_text(levels[0])}): no test")
    elif len(labels) < 2:
        notes.append("one segment: no test")
    elif nonempty.sum() < 2:
        notes.append("fewer than two segments have respondents: no test")
    else:
        table = counts[:, nonempty]
        if not nonempty.all():
            notes.append(f"{int((~nonempty).sum())} empty segment(s) left out of the test")
        chi2, p, dof, expected = stats.chi2_contingency(table, correction=False)
        n_tab = table.sum()
        v = np.sqrt(chi2 / (n_tab * (min(table.shape) - 1)))
        test = dict(test="chi-square", statistic=float(chi2), df=float(dof), p_value=float(p),
                    effect_size=float(v), effect_measure="Cramer's V")
        small = expected < 5
        if small.any():
            keep_cols = np.flatnonzero(nonempty)
            remap = -np.ones(c, dtype=int)
            remap[keep_cols] = np.arange(len(keep_cols))
            cs = remap[codes_s]
            cc = len(keep_cols)
            hits = 0
            sims = np.empty(n_permutations)
            for b in range(n_permutations):
                sims[b] = _chi2_stat(codes_x, rng.permutation(cs), r, cc)
            hits = int(np.sum(sims >= chi2 - 1e-9 * max(chi2, 1.0)))
            test.update(alt_test="permutation chi-square", alt_statistic=float(chi2),
                        alt_p_value=(1 + hits) / (n_permutations + 1))
            notes.append(f"{small.mean():.0%} of expected counts below 5: chi-square approximation doubtful, "
                         f"use the permutation p-value ({n_permutations} permutations)")
    note = "; ".join(notes)
    for i, lv in enumerate(levels):
        for j, k in enumerate(labels):
            rows.append({**base, **test, "level": level_text(lv), "segment": k, "n": int(counts[i, j]),
                         "value": float(shares[i, j]), "overall": float(overall[i]),
                         "note": note if seg_tot[j] > 0 else "; ".join(filter(None, [note, "empty segment"]))})
    return rows


def _weighted_mean_sd(v: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    tot = w.sum()
    if tot <= 0:
        return np.nan, np.nan
    m = float(w @ v / tot)
    # reliability-weights correction: V1 - V2/V1
    denom = tot - (w @ w) / tot
    sd = float(np.sqrt(w @ (v - m) ** 2 / denom)) if denom > 0 else np.nan
    return m, sd


def _numeric_rows(name, x, seg, labels, post, n_missing):
    rows = []
    valid = x.notna() & seg.notna()
    base = dict(variable=name, kind="numeric", level="", n_missing=n_missing, test="", statistic=np.nan,
                df=np.nan, p_value=np.nan, effect_size=np.nan, effect_measure="", alt_test="",
                alt_statistic=np.nan, alt_p_value=np.nan)
    if not valid.any():
        note = "all values missing" if x.isna().all() else "no respondent with both a value and a segment"
        return [{**base, "segment": k, "n": 0, "value": np.nan, "sd": np.nan, "overall": np.nan, "note": note}
                for k in labels]
    xv = x[valid].astype(float).to_numpy()
    sv = seg[valid].astype(int).to_numpy()
    groups = {k: xv[sv == k] for k in labels}
    desc = {}
    for j, k in enumerate(labels):
        if post is not None:
            m, sd = _weighted_mean_sd(xv, post[valid.to_numpy()][:, j])
        else:
            g = groups[k]
            m = float(g.mean()) if len(g) else np.nan
            sd = float(g.std(ddof=1)) if len(g) > 1 else np.nan
        desc[k] = (m, sd)
    notes = []
    test = {}
    usable = [k for k in labels if len(groups[k]) >= 2]
    if len(labels) < 2:
        notes.append("one segment: no test")
    elif np.ptp(xv) == 0:
        notes.append("constant value: no test")
    elif len(usable) < 2:
        notes.append("fewer than two segments with 2+ respondents: no test")
    else:
        if len(usable) < len(labels):
            notes.append(f"segment(s) {', '.join(str(k) for k in labels if k not in usable)} "
                         "with fewer than 2 respondents left out of the tests")
        gs = [groups[k] for k in usable]
        n_tot = sum(len(g) for g in gs)
        grand = np.concatenate(gs).mean()
        ss_between = sum(len(g) * (g.mean() - grand) ** 2 for g in gs)
        ss_total = float(((np.concatenate(gs) - grand) ** 2).sum())
        if all(np.ptp(g) == 0 for g in gs):
            notes.append("no variation within segments: ANOVA undefined")
            f_stat, p_f = np.nan, np.nan
        else:
            f_stat, p_f = stats.f_oneway(*gs)
        try:
            h, p_h = stats.kruskal(*gs)
        except ValueError:
            h, p_h = np.nan, np.nan
        test = dict(test="ANOVA", statistic=float(f_stat), df=float(len(gs) - 1), p_value=float(p_f),
                    effect_size=float(ss_between / ss_total) if ss_total > 0 else np.nan,
                    effect_measure="eta squared", alt_test="Kruskal-Wallis", alt_statistic=float(h),
                    alt_p_value=float(p_h))
        if min(len(g) for g in gs) < 5:
            notes.append("a segment has fewer than 5 respondents: tests have little power")
        _ = n_tot
    overall = float(xv.mean())
    note = "; ".join(notes)
    for k in labels:
        m, sd = desc[k]
        n_k = len(groups[k])
        rows.append({**base, **test, "segment": k, "n": n_k, "value": m, "sd": sd, "overall": overall,
                     "note": note if n_k > 0 else "; ".join(filter(None, [note, "empty segment"]))})
    return rows


def profile_table(data: pd.DataFrame, segment, variables: list[str], posteriors=None, *,
                  max_levels: int = MAX_LEVELS, n_permutations: int = 2000, seed: int = 0,
                  level_orders: Mapping[str, Sequence] | None = None) -> pd.DataFrame:
    """Describe every profile variable by segment and test the differences.

    Parameters
    ----------
    data : DataFrame
        One row per respondent, holding the profile variables.
    segment : Series or array-like
        Modal segment (1..K) of each respondent, aligned with ``data`` (by
        index when it is a Series with the same index, else by position).
        Respondents with a missing segment are left out.
    variables : list of str
        Profile variables.  Categorical ones (see :func:`is_categorical`) get
        one row per level and segment, numeric ones one row per segment.
    posteriors : array-like of shape (n, K), optional
        Posterior probabilities.  When given, shares, means and SDs are
        posterior-weighted (every respondent counts in every segment with
        weight p_ik) and segments run 1..K; tests always use the modal
        ``segment`` (respondents are independent units there).
    max_levels : int, default 5
        Numeric variables with at most this many distinct values are
        categorical.
    n_permutations : int, default 2000
        Permutations for the Monte Carlo chi-square p-value that is added when
        an expected count is below 5.
    seed : int, default 0
        Seed of those permutations.
    level_orders : dict, optional
        ``{variable: [level, ...]}``: the order in which a categorical
        variable's levels are listed (ordered categories such as income
        bands).  Unlisted levels, and variables without an entry, follow in
        natural order (:func:`order_levels`).

    Returns
    -------
    DataFrame
        Columns ``variable, kind, level, segment, n, value, sd, overall, test,
        statistic, df, p_value, effect_size, effect_measure, alt_test,
        alt_statistic, alt_p_value, n_missing, note``.

        * categorical: ``value`` is the share of the level within the segment,
          ``n`` the count of modal members at that level, ``overall`` the
          share among all respondents; ``test`` chi-square of independence
          (no continuity correction) with Cramer's V; ``alt_*`` the
          permutation chi-square p-value when expected counts fall below 5.
        * numeric: ``value`` the mean and ``sd`` the SD in the segment,
          ``overall`` the overall mean; ``test`` one-way ANOVA with eta
          squared, ``alt_*`` Kruskal-Wallis.

        Test columns repeat on every row of the variable.  ``n_missing`` counts
        the respondents with a missing value.  ``note`` says why a test is
        missing or doubtful (single level, all missing, one segment, small
        segments); it is empty otherwise.

    Raises
    ------
    DataError
        If a variable is not a column of ``data``.
    """
    check_variables(data, variables)
    seg, labels = _segment_labels(data, segment, posteriors)
    post = None
    if posteriors is not None:
        post, _ = check_posteriors(posteriors)
        if post.shape[0] != len(data):
            raise ValueError(f"posteriors have {post.shape[0]} rows for {len(data)} respondents")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x50524F46]))
    rows = []
    for name in variables:
        x = data[name]
        n_missing = int(x.isna().sum())
        if _is_numeric(x, max_levels):
            rows.extend(_numeric_rows(name, x, seg, labels, post, n_missing))
        else:
            rows.extend(_categorical_rows(name, x, seg, labels, post, n_missing, n_permutations, rng,
                                          (level_orders or {}).get(name)))
    return _profile_frame(rows)


def _is_numeric(x: pd.Series, max_levels: int) -> bool:
    """Whether a profile variable is described by means (else by the shares of its levels)."""
    if x.isna().all():
        return pd.api.types.is_numeric_dtype(x.dtype) and not pd.api.types.is_bool_dtype(x.dtype)
    return not is_categorical(x, max_levels)


def _profile_frame(rows: list[dict]) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=PROFILE_COLUMNS)
    out["segment"] = out["segment"].astype(int)
    out["n"] = out["n"].astype(int)
    out["n_missing"] = out["n_missing"].astype(int)
    for col in ("level", "test", "effect_measure", "alt_test", "note"):
        out[col] = out[col].astype(object).fillna("").astype(str)
    return out

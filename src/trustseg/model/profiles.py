"""Who the segments are: profile tables and the membership model.

Two questions about the profile variables (demographics, membership type...):

* :func:`profile_table` describes each variable within each segment (shares of
  every level, or mean and SD) and tests whether the segments differ
  (chi-square with Cramer's V; one-way ANOVA with eta squared and
  Kruskal-Wallis).  Respondents enter through their modal segment, or, with
  ``posteriors``, the descriptive values are posterior-weighted.
* :func:`membership_model` estimates a multinomial logit of segment membership
  on the profile variables with the BCH three-step correction (Bolck, Croon &
  Hagenaars 2004; Vermunt 2010), so that classification error does not
  attenuate the coefficients as it does when the modal assignment is treated
  as known.

Edge cases (a variable with one level, all values missing, segments too small
for a test, a single segment) never stop the analysis: they are written in a
``note`` column.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import linalg, stats

from trustseg.errors import DataError
from trustseg.model._core import INTERCEPT
from trustseg.model.classification import check_posteriors

__all__ = [
    "profile_table", "membership_model", "is_categorical", "bch_weights", "classification_error_matrix",
    "order_levels", "band_bounds", "level_text",
]

logger = logging.getLogger("trustseg")


MAX_LEVELS = 5

PROFILE_COLUMNS = [
    "variable", "kind", "level", "segment", "n", "value", "sd", "overall",
    "test", "statistic", "df", "p_value", "effect_size", "effect_measure",
    "alt_test", "alt_statistic", "alt_p_value", "n_missing", "note",
]
MEMBERSHIP_COLUMNS = [
    "segment", "term", "estimate", "std_error", "z", "p_value", "odds_ratio",
    "ci_low", "ci_high", "or_ci_low", "or_ci_high", "note",
]


def is_categorical(values: pd.Series, max_levels: int = MAX_LEVELS) -> bool:
    """Whether a profile variable is treated as categorical.

    Object, string, category and boolean columns are categorical; so is a
    numeric column with at most ``max_levels`` distinct non-missing values
    (a 0/1 flag, a three-level code).  Other numeric columns are numeric.
    """
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype):
        return True
    if not pd.api.types.is_numeric_dtype(dtype):
        return True
    return values.dropna().nunique() <= max_levels


def _levels(values: pd.Series, order: Sequence | None = None) -> list:
    """Distinct non-missing levels in display order (see :func:`order_levels`; a categorical keeps its order)."""
    present = values.dropna()
    if order is None and isinstance(values.dtype, pd.CategoricalDtype):
        return [c for c in values.cat.categories if (present == c).any()]
    return order_levels(pd.unique(present), order)


def level_text(level) -> str:
    """A level as shown and matched: ``2.0`` (an integer code read as a float) is ``"2"``."""
    if isinstance(level, (float, np.floating)) and float(level).is_integer():
        return str(int(level))
    return str(level).strip()


def order_levels(levels: Iterable, order: Sequence | None = None) -> list:
    """Levels in display order.

    The levels named in ``order`` come first, in that order (matched by their
    text, so ``"2"`` matches a code ``2``); the others follow in natural
    order: numbers by value; text that names numeric bands by the band
    (``<30k`` < ``30-60k`` < ``60-100k`` < ``>100k``, ``Under 18`` < ``18-24``
    < ``65+``, see :func:`band_bounds`) when every level names one; else
    alphabetically.

    Parameters
    ----------
    levels : iterable
        Distinct levels.
    order : sequence, optional
        The order of the levels (from the config's ``profile_order`` or the
        data file's value labels).

    Returns
    -------
    list
        ``levels``, reordered.
    """
    levels = list(levels)
    listed = []
    if order:
        by_text = {}
        for level in levels:
            by_text.setdefault(level_text(level), level)
        for item in order:
            level = by_text.pop(level_text(item), None)
            if level is not None:
                listed.append(level)
        levels = list(by_text.values())
    return listed + _natural_order(levels)


def _natural_order(levels: list) -> list:
    if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
           for v in levels):
        return sorted(levels)
    bands = [band_bounds(v) for v in levels]
    if levels and all(b is not None for b in bands):
        return [v for _, _, v in sorted(zip(bands, (str(v).lower() for v in levels), levels),
                                        key=lambda t: (t[0], t[1]))]
    try:
        return sorted(levels)
    except TypeError:
        return sorted(levels, key=lambda v: str(v))


# A number with an optional multiplier right after it ("30k", "1.5M", "5千", "2万"); a multiplier
# letter followed by another letter is a unit ("5 km", "10 min"), not a multiplier.
_BAND_NUMBER = re.compile(r"(\d+(?:\.\d+)?)(?:\s?([kKmM千万亿])(?![A-Za-z]))?")
_MULTIPLIERS = {"k": 1e3, "m": 1e6, "千": 1e3, "万": 1e4, "亿": 1e8}
_OPEN_BELOW_BEFORE = re.compile(r"[<\u2264\uff1c]|\b(under|less than|below|up to|upto|fewer than|younger than|"
                                r"at most|no more than|max(imum)?)\b")
_OPEN_BELOW_AFTER = re.compile(r"\b(or less|or fewer|or younger|or under|and under|and below|or below)\b|以下|以内")
_OPEN_ABOVE_BEFORE = re.compile(r"[>\u2265\uff1e]|\b(over|more than|above|at least|older than|greater than|"
                                r"min(imum)?)\b")
_OPEN_ABOVE_AFTER = re.compile(r"^\s*\+|\b(or more|or older|or over|and over|and above|or above|and older|plus)\b|以上")


def band_bounds(label) -> tuple[float, float] | None:
    """The numeric band a category label names, as ``(low, high)``; None when it holds no number.

    ``"30-60k"`` is (30000, 60000), ``"<30k"`` (-inf, 30000), ``">100k"`` and
    ``"100k+"`` (100000, inf), ``"18-24"`` (18, 24), ``"65 or older"``
    (65, inf), ``"3000元以下"`` (-inf, 3000).  A multiplier written once
    applies to the band's first number too (``30-60k``).  Thousands
    separators (``$30,000``) are read as such.
    """
    text = re.sub(r"(?<=\d)[,'\u00a0\u202f](?=\d{3}(?!\d))", "", str(label).strip().lower())
    found = list(_BAND_NUMBER.finditer(text))
    if not found:
        return None
    values = [float(m.group(1)) for m in found]
    factors = [_MULTIPLIERS.get((m.group(2) or "").lower()) for m in found]
    # "30-60k": the first number takes the multiplier written after the second, unless that would
    # turn the band around ("500-1k" is 500 to 1000).
    for i in range(len(found) - 2, -1, -1):
        if factors[i] is None and factors[i + 1] is not None and values[i] <= values[i + 1]:
            factors[i] = factors[i + 1]
    numbers = [v * (f or 1.0) for v, f in zip(values, factors)]
    before, after = text[:found[0].start()], text[found[0].end():]
    if _OPEN_BELOW_BEFORE.search(before) or (len(numbers) == 1 and _OPEN_BELOW_AFTER.search(after)):
        return (-np.inf, numbers[0])
    if _OPEN_ABOVE_BEFORE.search(before) or (len(numbers) == 1 and _OPEN_ABOVE_AFTER.search(after)):
        return (numbers[0], np.inf)
    return (numbers[0], numbers[1]) if len(numbers) > 1 else (numbers[0], numbers[0])


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


def _check_variables(data: pd.DataFrame, variables: list[str]) -> None:
    missing_cols = [v for v in variables if v not in data.columns]
    if missing_cols:
        raise DataError(f"profile variable(s) {missing_cols} are not columns of the data; "
                        f"available: {list(data.columns)}")


def _chi2_stat(codes_x: np.ndarray, codes_s: np.ndarray, r: int, c: int) -> float:
    table = np.bincount(codes_x * c + codes_s, minlength=r * c).reshape(r, c).astype(float)
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.nansum((table - expected) ** 2 / expected))


def _categorical_rows(name, x, seg, labels, post, n_missing, n_permutations, rng, order=None):
    rows = []
    valid = x.notna() & seg.notna()
    levels = _levels(x[valid], order) if valid.any() else []
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
    _check_variables(data, variables)
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
        if x.isna().all():
            numeric = pd.api.types.is_numeric_dtype(x.dtype) and not pd.api.types.is_bool_dtype(x.dtype)
        else:
            numeric = not is_categorical(x, max_levels)
        if numeric:
            rows.extend(_numeric_rows(name, x, seg, labels, post, n_missing))
        else:
            rows.extend(_categorical_rows(name, x, seg, labels, post, n_missing, n_permutations, rng,
                                          (level_orders or {}).get(name)))
    return _profile_frame(rows)


def _profile_frame(rows: list[dict]) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=PROFILE_COLUMNS)
    out["segment"] = out["segment"].astype(int)
    out["n"] = out["n"].astype(int)
    out["n_missing"] = out["n_missing"].astype(int)
    for col in ("level", "test", "effect_measure", "alt_test", "note"):
        out[col] = out[col].astype(object).fillna("").astype(str)
    return out


# ----------------------------------------------------------------------------
# membership model (BCH three-step)
# ----------------------------------------------------------------------------


def classification_error_matrix(posteriors: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """D[t, s] = P(modal segment s | true segment t), estimated from posteriors.

    ``D[t, s] = sum_i w_i p_it [m_i = s] / sum_i w_i p_it`` (Vermunt 2010,
    eq. 6), rows true segments, columns modal assignments; rows sum to 1.
    """
    p, w = check_posteriors(posteriors, weights)
    k = p.shape[1]
    modal = p.argmax(axis=1)
    onehot = np.eye(k)[modal]
    joint = (w[:, None] * p).T @ onehot
    tot = joint.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, joint / tot, 0.0)


def bch_weights(posteriors: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """BCH weights: respondent i gets weight ``inv(D)[m_i, t]`` for segment t.

    Returns
    -------
    (W, D, note)
        ``W`` of shape (n, K) (rows sum to 1; entries can be negative), the
        classification-error matrix ``D`` and a note ("" unless ``D`` is
        (near) singular and its pseudo-inverse was used).
    """
    p, w = check_posteriors(posteriors, weights)
    d = classification_error_matrix(p, w)
    note = ""
    cond = np.linalg.cond(d) if np.all(np.isfinite(d)) else np.inf
    if not np.isfinite(cond) or cond > 1e10:
        d_inv = np.linalg.pinv(d)
        note = "classification-error matrix is singular (a segment has no modal members); pseudo-inverse used"
    else:
        d_inv = np.linalg.inv(d)
    return d_inv[p.argmax(axis=1)], d, note


def _mnl_hessian(Z: np.ndarray, W: np.ndarray, w: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """Hessian of the weighted multinomial log-likelihood, blocks stacked by non-reference segment."""
    q, m = Z.shape[1], pi.shape[1] - 1
    total = W.sum(1) * w
    hess = np.empty((q * m, q * m))
    for a in range(m):
        for b in range(a, m):
            block = -(Z.T * (pi[:, a + 1] * ((a == b) - pi[:, b + 1]) * total)) @ Z
            hess[a * q:(a + 1) * q, b * q:(b + 1) * q] = block
            hess[b * q:(b + 1) * q, a * q:(a + 1) * q] = block.T
    return hess


def _fit_weighted_mnl(Z: np.ndarray, W: np.ndarray, w: np.ndarray, max_iter: int = 200, tol: float = 1e-10):
    """Maximise sum_i w_i sum_t W_it log softmax(eta_i)_t with eta_i1 = 0 by Newton.

    Because every row of W sums to 1 the objective is concave even when W has
    negative entries (it is W_i . eta_i - logsumexp(eta_i) per respondent).
    Returns (beta (q, K-1), cov_sandwich, converged, n_iter).
    """
    n, q = Z.shape
    k = W.shape[1]
    m = k - 1
    beta = np.zeros((q, m))
    # start: intercepts at the log share ratios of the weighted targets
    share = np.clip((w[:, None] * W).sum(0) / w.sum(), 1e-6, None)
    beta[0] = np.log(share[1:] / share[0])

    def objective(b):
        eta = np.column_stack([np.zeros(n), Z @ b])
        lse = np.logaddexp.reduce(eta, axis=1)
        return float(w @ ((W * eta).sum(1) - W.sum(1) * lse)), eta, lse

    obj, eta, lse = objective(beta)
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        pi = np.exp(eta - lse[:, None])
        resid = W[:, 1:] - W.sum(1, keepdims=True) * pi[:, 1:]  # n x m
        grad = (Z.T @ (w[:, None] * resid)).ravel(order="F")  # stacked by segment
        hess = _mnl_hessian(Z, W, w, pi)
        try:
            step = linalg.solve(-hess, grad, assume_a="pos")
        except (linalg.LinAlgError, ValueError):
            step = linalg.lstsq(-hess, grad)[0]
        t = 1.0
        improved = False
        for _ in range(40):
            cand = beta + t * step.reshape((q, m), order="F")
            c_obj, c_eta, c_lse = objective(cand)
            if np.isfinite(c_obj) and c_obj >= obj - 1e-12 * abs(obj):
                improved = True
                break
            t /= 2
        if not improved:
            break
        change = c_obj - obj
        beta, obj, eta, lse = cand, c_obj, c_eta, c_lse
        if abs(change) <= tol * max(abs(obj), 1.0) and np.max(np.abs(t * step)) < 1e-6:
            converged = True
            break
    pi = np.exp(eta - lse[:, None])
    resid = W[:, 1:] - W.sum(1, keepdims=True) * pi[:, 1:]
    hess = _mnl_hessian(Z, W, w, pi)
    scores = np.concatenate([Z * (w * resid[:, a])[:, None] for a in range(m)], axis=1)  # n x qm
    meat = scores.T @ scores
    try:
        bread = linalg.inv(-hess)
    except linalg.LinAlgError:
        bread = linalg.pinv(-hess)
    cov = bread @ meat @ bread
    return beta, cov, converged, it


def membership_model(data: pd.DataFrame, posteriors, variables: list[str], *, weights=None,
                     correction: str = "bch", alpha: float = 0.05, max_levels: int = MAX_LEVELS,
                     max_iter: int = 200, level_orders: Mapping[str, Sequence] | None = None) -> pd.DataFrame:
    """Multinomial logit of segment membership on profile variables (BCH three-step).

    Parameters
    ----------
    data : DataFrame
        One row per respondent (same order as ``posteriors``).
    posteriors : array-like of shape (n, K)
        Posterior segment probabilities from the fitted mixture (step 1).
    variables : list of str
        Profile variables.  Categorical variables (:func:`is_categorical`) are
        dummy-coded with the most frequent level as reference (ties: the first
        level in display order, see ``level_orders``); terms are named ``"variable[level]"``.  Numeric
        variables enter linearly.
    weights : array-like of shape (n,), optional
        Survey weights.
    correction : {"bch", "none"}, default "bch"
        ``"bch"``: BCH three-step estimator, weights ``inv(D)[m_i, t]`` (can be
        negative) with ``m_i`` the modal segment, ``D[t, s] = P(modal s | true t)``.
        ``"none"``: naive three-step logit on the modal assignment (biased
        toward zero by classification error; for comparison only).
    alpha : float, default 0.05
        Confidence level ``1 - alpha`` of the intervals.
    max_levels : int, default 5
        Numeric variables with at most this many distinct values are
        categorical.
    max_iter : int, default 200
        Newton iterations.
    level_orders : dict, optional
        ``{variable: [level, ...]}``: the order of a categorical variable's
        levels, as in :func:`profile_table`; terms are listed in it.

    Returns
    -------
    DataFrame
        One row per non-reference segment (2..K, each against segment 1) and
        term (``"(Intercept)"`` first): ``segment, term, estimate, std_error,
        z, p_value, odds_ratio, ci_low, ci_high, or_ci_low, or_ci_high, note``.
        ``estimate`` and ``ci_low/ci_high`` are on the log-odds scale,
        ``odds_ratio`` and ``or_ci_*`` their exponentials.  Standard errors
        are the sandwich estimator clustered by respondent (the K expanded rows
        of a respondent form one cluster); like Vermunt (2010) they treat
        ``D`` as known.

        A skipped variable (single level or all missing) appears as one row
        per segment with NaN estimates and the reason in ``note``.  The
        intercept rows' ``note`` reports respondents dropped for missing
        profile values.  ``attrs`` holds ``n_used``, ``n_dropped``,
        ``skipped`` (variable -> reason), ``reference_levels`` (variable ->
        level), ``classification_error_matrix`` (list of lists),
        ``converged``, ``n_iter`` and ``notes``.  With K = 1 the frame is
        empty and ``attrs["notes"]`` says why.

    Raises
    ------
    DataError
        If a variable is not a column of ``data``.
    """
    if correction not in ("bch", "none"):
        raise ValueError("correction must be 'bch' or 'none'")
    _check_variables(data, variables)
    p, w_all = check_posteriors(posteriors, weights)
    if p.shape[0] != len(data):
        raise ValueError(f"posteriors have {p.shape[0]} rows for {len(data)} respondents")
    if p.shape[1] == 1:
        out = pd.DataFrame(columns=MEMBERSHIP_COLUMNS)
        out.attrs.update(n_used=len(data), n_dropped=0, skipped={}, reference_levels={}, classification_error_matrix=[],
                         converged=False, n_iter=0, notes=["one segment: no membership model"])
        return out
    kept, kinds, skipped, complete = _usable_variables(data, variables, max_levels)
    Z, terms, reference_levels = _design_matrix(data.loc[complete, kept], kinds, level_orders or {})
    beta, cov, converged, n_iter, D, notes = _three_step_fit(Z, p[complete], w_all[complete], correction, max_iter)
    n_used = int(complete.sum())
    drop_note = f"{len(data) - n_used} respondent(s) with missing profile values dropped; {n_used} used"
    out = _coefficient_table(beta, cov, terms, skipped, notes, drop_note, alpha)
    out.attrs.update(n_used=n_used, n_dropped=len(data) - n_used, skipped=skipped, reference_levels=reference_levels,
                     classification_error_matrix=D.tolist(), converged=bool(converged), n_iter=int(n_iter),
                     notes=notes + [drop_note] + [f"{v} skipped: {r}" for v, r in skipped.items()])
    if skipped:
        logger.info("membership model: skipped %s", ", ".join(f"{v} ({r})" for v, r in skipped.items()))
    return out


def _three_step_fit(Z: np.ndarray, p: np.ndarray, w: np.ndarray, correction: str, max_iter: int):
    """Steps 2 and 3: the classification-error matrix and the weighted multinomial logit.

    Step 2 assigns respondents to their modal segment; the classification-error
    matrix ``D[t, s] = P(modal s | true t)`` is computed from the posteriors
    ``p``.  With ``correction="bch"`` step 3 expands the data to respondent x
    segment with weights ``inv(D)[m_i, t]`` (which can be negative); with
    ``"none"`` the modal assignment is taken as known.  Either way the weighted
    multinomial log-likelihood is maximised by Newton's method.

    Returns ``(beta, cov, converged, n_iter, D, notes)``.
    """
    notes = []
    if correction == "bch":
        W, D, d_note = bch_weights(p, w)
        if d_note:
            notes.append(d_note)
    else:
        W = np.eye(p.shape[1])[p.argmax(axis=1)]
        D = classification_error_matrix(p, w)
    if np.linalg.matrix_rank(Z) < Z.shape[1]:
        notes.append("design matrix is rank deficient (collinear profile variables); estimates not identified")
    beta, cov, converged, n_iter = _fit_weighted_mnl(Z, W, w, max_iter=max_iter)
    if not converged:
        notes.append("Newton iterations did not converge (possible separation); estimates unstable")
    return beta, cov, converged, n_iter, D, notes


def _usable_variables(data: pd.DataFrame, variables: list[str], max_levels: int):
    """The variables the membership model can use, their kind, the skipped ones and the complete rows.

    Returns ``(kept, kinds, skipped, complete)``: kept variables in order,
    ``{variable: is categorical}``, ``{variable: reason}`` and a boolean mask
    of the respondents with a value in every kept variable.
    """
    skipped: dict[str, str] = {}
    kinds: dict[str, bool] = {}
    for v in variables:
        x = data[v]
        if x.isna().all():
            skipped[v] = "all values missing"
        elif x.dropna().nunique() < 2:
            skipped[v] = "single level"
        else:
            kinds[v] = is_categorical(x, max_levels)
    kept = [v for v in variables if v not in skipped]
    complete = data[kept].notna().all(axis=1).to_numpy() if kept else np.ones(len(data), bool)
    # a variable may become single-level once incomplete rows are dropped
    for v in list(kept):
        if data.loc[complete, v].nunique() < 2:
            skipped[v] = "single level among complete rows"
            kept.remove(v)
    complete = data[kept].notna().all(axis=1).to_numpy() if kept else np.ones(len(data), bool)
    return kept, kinds, skipped, complete


def _design_matrix(sub: pd.DataFrame, kinds: dict[str, bool],
                   level_orders: Mapping[str, Sequence]) -> tuple[np.ndarray, list[str], dict]:
    """Intercept, dummies (most frequent level as reference) and numeric columns.

    Returns the matrix, its term names and the reference level of every
    categorical variable.
    """
    cols = [np.ones(len(sub))]
    terms = [INTERCEPT]
    reference_levels = {}
    for v in sub.columns:
        x = sub[v]
        if kinds[v]:
            levels = _levels(x, level_orders.get(v))
            counts = x.value_counts()
            ref = max(levels, key=lambda lv: (counts.get(lv, 0), -levels.index(lv)))
            reference_levels[v] = level_text(ref)
            for lv in levels:
                if lv == ref:
                    continue
                cols.append((x == lv).to_numpy(dtype=float))
                terms.append(f"{v}[{level_text(lv)}]")
        else:
            cols.append(x.astype(float).to_numpy())
            terms.append(v)
    return np.column_stack(cols), terms, reference_levels


def _coefficient_table(beta: np.ndarray, cov: np.ndarray, terms: list[str], skipped: dict, notes: list[str],
                       drop_note: str, alpha: float) -> pd.DataFrame:
    """One row per non-reference segment and term, then one per skipped variable."""
    q, m = beta.shape
    se = np.sqrt(np.clip(np.diag(cov), 0, None)).reshape((q, m), order="F")
    zcrit = stats.norm.ppf(1 - alpha / 2)
    rows = []
    for a in range(m):
        for j, term in enumerate(terms):
            est, s = float(beta[j, a]), float(se[j, a])
            z = est / s if s > 0 else np.nan
            row_notes = list(notes)
            if term == INTERCEPT:
                row_notes.append(drop_note)
            rows.append(dict(segment=a + 2, term=term, estimate=est, std_error=s, z=z,
                             p_value=float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else np.nan,
                             odds_ratio=float(np.exp(est)), ci_low=est - zcrit * s, ci_high=est + zcrit * s,
                             or_ci_low=float(np.exp(est - zcrit * s)), or_ci_high=float(np.exp(est + zcrit * s)),
                             note="; ".join(row_notes)))
        for v, reason in skipped.items():
            rows.append(dict(segment=a + 2, term=v, estimate=np.nan, std_error=np.nan, z=np.nan, p_value=np.nan,
                             odds_ratio=np.nan, ci_low=np.nan, ci_high=np.nan, or_ci_low=np.nan,
                             or_ci_high=np.nan, note=f"skipped: {reason}"))
    out = pd.DataFrame(rows, columns=MEMBERSHIP_COLUMNS)
    out["segment"] = out["segment"].astype(int)
    return out

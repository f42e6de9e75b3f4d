"""Measurement quality of the constructs: alpha, omega and item statistics.

:func:`reliability_table` returns a long table: for each construct one row with
``level == "construct"`` (item empty) followed by one row per item with
``level == "item"``.  Columns::

    construct, level, item, n_items, n, alpha, omega,
    item_total_r, alpha_if_deleted, warning

``n`` is the number of complete cases (respondents who answered every item of
the construct); all statistics use those cases.  ``alpha`` is Cronbach's
alpha on the covariances; ``omega`` is McDonald's omega total from a
one-factor principal-axis fit to the correlations; ``item_total_r`` is the
corrected item-total correlation (item against the sum of the other items) and
``alpha_if_deleted`` the alpha of the other items.  Quantities that cannot be
estimated are NaN and ``warning`` says why.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["reliability_table", "cronbach_alpha", "mcdonald_omega", "RELIABILITY_COLUMNS"]

RELIABILITY_COLUMNS = [
    "construct", "level", "item", "n_items", "n", "alpha", "omega",
    "item_total_r", "alpha_if_deleted", "warning",
]
ALPHA_THRESHOLD = 0.7


def cronbach_alpha(items: pd.DataFrame) -> float:
    """Cronbach's alpha of complete cases.

    Parameters
    ----------
    items : pandas.DataFrame
        One column per item, one row per respondent, no missing values.

    Returns
    -------
    float
        ``k/(k-1) * (1 - sum(item variances) / variance(total))``; NaN with
        fewer than two items, fewer than two rows, or a constant total.
    """
    k = items.shape[1]
    if k < 2 or len(items) < 2:
        return float("nan")
    total_var = items.sum(axis=1).var(ddof=1)
    if not total_var > 0:
        return float("nan")
    return float(k / (k - 1) * (1 - items.var(ddof=1).sum() / total_var))


def mcdonald_omega(items: pd.DataFrame, max_iter: int = 200, tol: float = 1e-6) -> float:
    """McDonald's omega total from a one-factor principal-axis fit.

    Parameters
    ----------
    items : pandas.DataFrame
        Complete cases, at least three items (with two, one factor is not
        identified).
    max_iter, tol : int, float
        Iterations and convergence tolerance of the communality updates.

    Returns
    -------
    float
        ``(sum loadings)^2 / ((sum loadings)^2 + sum uniquenesses)`` on the
        correlation scale; NaN when it cannot be estimated.
    """
    k = items.shape[1]
    if k < 3 or len(items) <= k:
        return float("nan")
    if not (items.var(ddof=1) > 0).all():
        return float("nan")
    corr = np.corrcoef(items.to_numpy(dtype=float), rowvar=False)
    if not np.isfinite(corr).all():
        return float("nan")
    # Start from squared multiple correlations, the usual communality guess.
    try:
        h2 = 1 - 1 / np.diag(np.linalg.inv(corr))
    except np.linalg.LinAlgError:
        h2 = np.full(k, 0.5)
    h2 = np.clip(h2, 0.05, 0.995)
    loadings = np.sqrt(h2)
    for _ in range(max_iter):
        reduced = corr.copy()
        np.fill_diagonal(reduced, h2)
        values, vectors = np.linalg.eigh(reduced)
        loadings = vectors[:, -1] * np.sqrt(max(values[-1], 0.0))
        # Heywood cases (communality >= 1) are capped so uniquenesses stay positive.
        new_h2 = np.clip(loadings**2, 0.0, 0.995)
        if np.max(np.abs(new_h2 - h2)) < tol:
            h2 = new_h2
            break
        h2 = new_h2
    if loadings.sum() < 0:
        loadings = -loadings
    loadings = np.sign(loadings) * np.sqrt(h2)
    common = loadings.sum() ** 2
    return float(common / (common + np.sum(1 - h2)))


def reliability_table(clean: pd.DataFrame, constructs: dict) -> pd.DataFrame:
    """Reliability of every construct and statistics of its items.

    Parameters
    ----------
    clean : pandas.DataFrame
        The clean data set (items already reverse-keyed).
    constructs : dict
        The ``constructs`` section of the config: ``{name: {"items": [...], ...}}``.

    Returns
    -------
    pandas.DataFrame
        Long format, columns :data:`RELIABILITY_COLUMNS` (see the module
        docstring): a construct row, then its item rows, per construct.
    """
    rows: list[dict] = []
    for name, spec in constructs.items():
        items = [i for i in spec["items"] if i in clean.columns]
        absent = [i for i in spec["items"] if i not in clean.columns]
        block = clean[items].apply(pd.to_numeric, errors="coerce").dropna()
        k, n = len(items), len(block)
        base = {"construct": name, "n_items": k, "n": n}
        notes: list[str] = []
        if absent:
            notes.append(f"items {absent} are not in the data")
        alpha = omega = float("nan")
        if k < 2:
            notes.append("single-item construct: reliability cannot be estimated from one item")
        elif n < 3:
            notes.append(f"only {n} complete case(s): too few to estimate reliability")
        else:
            alpha = cronbach_alpha(block)
            omega = mcdonald_omega(block)
            if np.isnan(alpha):
                notes.append("the items do not vary: alpha cannot be estimated")
            elif alpha < ALPHA_THRESHOLD:
                notes.append(f"alpha {alpha:.3f} < {ALPHA_THRESHOLD:.2f}: the items may not measure one construct")
            if k == 2:
                notes.append("omega needs at least three items (one factor is not identified with two)")
        rows.append({**base, "level": "construct", "item": "", "alpha": alpha, "omega": omega,
                     "item_total_r": float("nan"), "alpha_if_deleted": float("nan"), "warning": "; ".join(notes)})
        for item in items:
            r = aid = float("nan")
            note = ""
            if k >= 2 and n >= 3:
                rest = block.drop(columns=item)
                r = _corr(block[item], rest.sum(axis=1))
                aid = cronbach_alpha(rest) if k >= 3 else float("nan")
                if r < 0:
                    note = "negative item-total correlation: is the item reverse-keyed?"
            rows.append({**base, "level": "item", "item": item, "alpha": float("nan"), "omega": float("nan"),
                         "item_total_r": r, "alpha_if_deleted": aid, "warning": note})
    return pd.DataFrame(rows, columns=RELIABILITY_COLUMNS)


def _corr(a: pd.Series, b: pd.Series) -> float:
    if not (a.std() > 0 and b.std() > 0):
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])

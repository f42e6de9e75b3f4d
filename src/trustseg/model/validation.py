"""Survey data as the estimators take them: checked, converted to float arrays, refused with a reason.

:func:`validate_data` turns a predictor frame, an outcome and survey weights
into float arrays and says which rows and columns hold missing or infinite
values; :func:`check_identifiable` refuses data no mixture of K regressions
can be fitted to (too few respondents, constant or collinear predictors, a
constant outcome), naming what is at fault.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import linalg

from trustseg.errors import DataError

#: the name of the intercept term in every coefficient table
INTERCEPT = "(Intercept)"


def _row_labels(index, positions, limit=10):
    labels = [str(index[p]) if index is not None else str(p) for p in positions[:limit]]
    more = len(positions) - limit
    return ", ".join(labels) + (f" and {more} more" if more > 0 else "")


def _describe_bad_values(values, names, index):
    """Messages like "3 missing values in column 'x' at rows 4, 17, 230"."""
    messages = []
    for j, name in enumerate(names):
        column = values[:, j]
        for kind, mask in (("missing", np.isnan(column)), ("infinite", np.isinf(column))):
            positions = np.flatnonzero(mask)
            if positions.size:
                noun = "value" if positions.size == 1 else "values"
                row = "row" if positions.size == 1 else "rows"
                messages.append(
                    f"{positions.size} {kind} {noun} in column '{name}' at {row} "
                    f"{_row_labels(index, positions)}"
                )
    return messages


def _as_2d_float(X, what):
    try:
        values = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{what} must be numeric: {exc}") from None
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise DataError(f"{what} must be two-dimensional, got {values.ndim} dimensions")
    return values


def predictor_values(X, feature_names):
    """X as a float matrix, its column names and (for a DataFrame) its row index."""
    if isinstance(X, pd.DataFrame):
        if feature_names is not None:
            absent = [c for c in feature_names if c not in X.columns]
            if absent:
                raise DataError(f"X lacks the columns the model was fitted on: {absent}")
            X = X[list(feature_names)]
        values = _as_2d_float(X.to_numpy(dtype=float, na_value=np.nan), "X")
        return values, [str(c) for c in X.columns], X.index
    values = _as_2d_float(X, "X")
    names = [f"x{j + 1}" for j in range(values.shape[1])]
    if feature_names is not None:
        if len(feature_names) != values.shape[1]:
            raise DataError(f"X has {values.shape[1]} columns but the model was fitted on {len(feature_names)}")
        names = list(feature_names)
    return values, names, None


def _outcome_values(y, n):
    """y as a float vector of length n, and its name."""
    y_name = str(y.name) if isinstance(y, pd.Series) and y.name is not None else "y"
    if isinstance(y, pd.DataFrame):
        if y.shape[1] != 1:
            raise DataError("y must be a single column")
        y_name = str(y.columns[0])
        y = y.iloc[:, 0]
    y_values = np.asarray(y, dtype=float).reshape(-1)
    if y_values.shape[0] != n:
        raise DataError(f"X has {n} rows but y has {y_values.shape[0]}")
    return y_values, y_name


def weight_values(sample_weight, n, index):
    """Survey weights as a float vector (ones when none are given); finite and non-negative."""
    if sample_weight is None:
        return np.ones(n)
    w = np.asarray(sample_weight, dtype=float).reshape(-1)
    if w.shape[0] != n:
        raise DataError(f"sample_weight has {w.shape[0]} entries but X has {n} rows")
    bad = _describe_bad_values(w[:, None], ["sample_weight"], index)
    if bad:
        raise DataError("; ".join(bad) + ". Weights must be finite.")
    negative = np.flatnonzero(w < 0)
    if negative.size:
        raise DataError(f"{negative.size} negative weights at rows {_row_labels(index, negative)}")
    return w


def validate_data(X, y, sample_weight=None, missing="raise", feature_names=None):
    """Check and convert survey data for the estimator.

    Parameters
    ----------
    X : DataFrame or array-like of shape (n, p)
        Predictors; a DataFrame's column names become the feature names.
    y : Series or array-like of shape (n,)
        Outcome.
    sample_weight : array-like of shape (n,), optional
        Non-negative, finite survey weights.
    missing : {"raise", "drop"}
        What to do with rows holding NaN or infinite values.
    feature_names : list of str, optional
        Names the fitted model expects; a DataFrame is reordered to them.

    Returns
    -------
    dict
        ``X``, ``y``, ``w`` (float arrays), ``names``, ``y_name``,
        ``dropped_rows`` (labels of dropped rows, as strings) and ``kept``
        (boolean mask of the rows kept, over the rows given).
    """
    if missing not in ("raise", "drop"):
        raise ValueError(f"missing must be 'raise' or 'drop', not {missing!r}")
    values, names, index = predictor_values(X, feature_names)
    y_values, y_name = _outcome_values(y, values.shape[0])
    w = weight_values(sample_weight, values.shape[0], index)
    data_block = np.column_stack([values, y_values])
    finite = np.isfinite(data_block).all(axis=1)
    dropped = []
    if not finite.all():
        if missing == "raise":
            messages = _describe_bad_values(data_block, names + [y_name], index)
            raise DataError(
                "; ".join(messages)
                + ". Clean these rows or pass missing='drop' to drop incomplete rows."
            )
        positions = np.flatnonzero(~finite)
        dropped = [str(index[p]) if index is not None else str(int(p)) for p in positions]
        values, y_values, w = values[finite], y_values[finite], w[finite]
    if w.sum() <= 0:
        raise DataError("the sample weights sum to zero")
    return {
        "kept": finite,
        "X": np.ascontiguousarray(values),
        "y": y_values,
        "w": w,
        "names": names,
        "y_name": y_name,
        "dropped_rows": dropped,
    }


def check_identifiable(X, y, w, names, n_segments):
    """Refuse data on which K segment regressions cannot be estimated."""
    n, p = X.shape
    if p == 0:
        raise DataError("X has no predictor columns")
    needed = n_segments * (p + 2)
    if n < needed:
        raise DataError(
            f"{n} respondents cannot support {n_segments} segments with {p} "
            f"predictor(s): each segment needs at least {p + 2} respondents "
            f"({needed} in all)"
        )
    positive = w > 0
    if positive.sum() < needed:
        raise DataError(
            f"only {int(positive.sum())} respondents have a positive weight; "
            f"{n_segments} segments need at least {needed}"
        )
    total = w.sum()
    mean_x = w @ X / total
    centred = (X - mean_x) * np.sqrt(w)[:, None]
    scale = np.sqrt((centred**2).sum(axis=0) / total)
    spread = np.abs(mean_x) + 1.0
    constant = [names[j] for j in range(p) if scale[j] <= 1e-10 * spread[j]]
    if constant:
        raise DataError(
            f"predictor(s) {constant} are constant: their slopes cannot be estimated"
        )
    standardised = centred / (scale * math.sqrt(total))
    _, r, pivots = linalg.qr(standardised, mode="economic", pivoting=True)
    diag = np.abs(np.diag(r))
    rank = int((diag > 1e-8 * diag[0]).sum())
    if rank < p:
        dependent = [names[j] for j in pivots[rank:]]
        raise DataError(
            f"predictors are collinear: {dependent} are linear combinations of the "
            f"other predictors; drop them or combine the predictors"
        )
    mean_y = w @ y / total
    if w @ (y - mean_y) ** 2 <= 1e-20 * total * (1.0 + mean_y**2):
        raise DataError("the outcome is constant: there is nothing to segment")

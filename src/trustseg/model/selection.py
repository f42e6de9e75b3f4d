"""Choosing the number of segments.

Information criteria, with L the maximised (weighted) log-likelihood, P the
number of free parameters and n the number of respondents (rows, also for
weighted fits: survey weights rescale the likelihood, they do not add
respondents):

=========  =====================================================
aic        -2L + 2P
aic3       -2L + 3P
bic        -2L + P log(n)
caic       -2L + P (log(n) + 1)
sabic      -2L + P log((n + 2) / 24)   (sample-size adjusted BIC)
icl        bic - 2 sum_i w_i log tau_{i, z_i}, z_i the most probable
           segment (flexmix's ICL: -2 x classification log-likelihood
           + P log n)
entropy    1 - E / (W log K), E = -sum_i w_i sum_k tau_ik log tau_ik,
           W = sum_i w_i (n without weights); 1 for K = 1
=========  =====================================================

P = K (p + 1) coefficients + K residual standard deviations + (K - 1) shares for
``method="em"``; CEM fits have one common standard deviation, so
P = K (p + 1) + 1 + (K - 1).  P counts the segments the model kept
(``k_fitted``), which is smaller than ``k`` when degenerate segments were
removed; such rows are never ``chosen``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from trustseg.errors import DataError
from trustseg.model._core import relative_entropy, validate_data
from trustseg.model.mixture import ClusterwiseRegression

CRITERIA = ("aic", "aic3", "bic", "caic", "sabic", "icl")
COLUMNS = [
    "k", "k_fitted", "loglik", "n_params", "aic", "aic3", "bic", "caic", "sabic", "icl",
    "entropy", "min_share", "n_starts", "n_best_starts", "optimum_replicated", "converged", "chosen",
]


def _criteria_row(model, posterior, w, n):
    loglik = float(model.loglik_)
    n_params = int(model.n_params_)
    k = model.n_segments_
    hard = posterior[np.arange(len(w)), posterior.argmax(axis=1)]
    bic = -2 * loglik + n_params * math.log(n)
    return {
        "k": int(model.n_segments),
        "k_fitted": k,
        "loglik": loglik,
        "n_params": n_params,
        "aic": -2 * loglik + 2 * n_params,
        "aic3": -2 * loglik + 3 * n_params,
        "bic": bic,
        "caic": -2 * loglik + n_params * (math.log(n) + 1),
        "sabic": -2 * loglik + n_params * math.log((n + 2) / 24),
        "icl": bic - 2 * float(w @ np.log(np.maximum(hard, 1e-300))),
        "entropy": relative_entropy(posterior, w),
        "min_share": float(model.weights_.min()),
        "n_starts": int(len(model.start_logliks_)),
        "n_best_starts": int(model.n_best_starts_),
        "optimum_replicated": bool(model.optimum_replicated_),
        "converged": bool(model.converged_),
    }


def criteria_table(models, X, y, sample_weight=None, criterion="bic"):
    """Model-selection table from already-fitted models.

    Parameters
    ----------
    models : dict {k: ClusterwiseRegression} or iterable of fitted models
        Fitted on (X, y, sample_weight), e.g. rebuilt with ``from_dict``.
    X, y, sample_weight
        The data the models were fitted to (needed for the posteriors).
    criterion : {"aic", "aic3", "bic", "caic", "sabic", "icl"}
        The criterion whose minimum is marked ``chosen``.

    Returns
    -------
    DataFrame
        One row per model, sorted by k, columns ``COLUMNS``.
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, not {criterion!r}")
    fitted = list(models.values()) if isinstance(models, dict) else list(models)
    if not fitted:
        raise ValueError("no models given")
    data = validate_data(X, y, sample_weight, "raise", list(fitted[0].feature_names_in_))
    w, n = data["w"], data["X"].shape[0]
    rows = []
    for model in fitted:
        if model.n_obs_ != n:
            raise DataError(
                f"the K={model.n_segments} model was fitted to {model.n_obs_} respondents "
                f"but the data given have {n}"
            )
        posterior = model.predict_proba(X, y)
        rows.append(_criteria_row(model, posterior, w, n))
    table = pd.DataFrame(rows).sort_values(["k"], kind="stable").reset_index(drop=True)
    eligible = table["k_fitted"] == table["k"]
    table["chosen"] = False
    if eligible.any():
        best = table.loc[eligible, criterion].idxmin()
        table.loc[best, "chosen"] = True
    return table[COLUMNS]


def select_segments(
    X,
    y,
    k_range=range(1, 7),
    n_init=20,
    random_state=0,
    criterion="bic",
    sample_weight=None,
    return_models=False,
    **estimator_params,
):
    """Fit one model per K and tabulate the information criteria.

    Parameters
    ----------
    X, y, sample_weight
        Data as for :meth:`ClusterwiseRegression.fit`.
    k_range : iterable of int
        Candidate numbers of segments.
    n_init, random_state
        Passed to every :class:`ClusterwiseRegression` (the same seed for every K).
    criterion : str
        Criterion used to mark the ``chosen`` row (see module docstring).
    return_models : bool
        Also return ``{k: fitted model}``.
    **estimator_params
        Further :class:`ClusterwiseRegression` parameters (method, min_share, ...).

    Returns
    -------
    DataFrame, or (DataFrame, dict)
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, not {criterion!r}")
    models = {}
    for k in k_range:
        models[int(k)] = ClusterwiseRegression(
            n_segments=int(k), n_init=n_init, random_state=random_state, **estimator_params
        ).fit(X, y, sample_weight=sample_weight)
    table = criteria_table(models, X, y, sample_weight=sample_weight, criterion=criterion)
    return (table, models) if return_models else table

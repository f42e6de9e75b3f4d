"""Shared data loaders and simulators for the engine tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

DATA_DIR = Path(__file__).parent / "data"
# The example surveys have one copy, the one the example configs use.
EXAMPLES_DIR = Path(__file__).parent.parent / "resources" / "examples"


def load_reference():
    """flexmix 2.3-18 reference fits (see tests/data/README.md)."""
    return json.loads((DATA_DIR / "flexmix_reference.json").read_text())


def load_composites(name):
    """Return (X DataFrame, y Series) for a reference data set, as flexmix saw it."""
    if name == "ecsi_mobi":
        raw = pd.read_csv(EXAMPLES_DIR / "ecsi_mobi.csv")
        X = pd.DataFrame({"satisfaction": raw[["CUSA1", "CUSA2", "CUSA3"]].mean(axis=1)})
        y = raw[["CUSL1", "CUSL3"]].mean(axis=1).rename("loyalty")
    elif name == "plspm_satisfaction_bank":
        raw = pd.read_csv(EXAMPLES_DIR / "plspm_satisfaction_bank.csv")
        X = pd.DataFrame({"satisfaction": raw[[f"sat{i}" for i in range(1, 5)]].mean(axis=1)})
        y = raw[[f"loy{i}" for i in range(1, 5)]].mean(axis=1).rename("loyalty")
    elif name == "corp_rep_data":
        raw = pd.read_csv(EXAMPLES_DIR / "corp_rep_data.csv")
        used = ["cusa", "cusl_1", "cusl_2", "cusl_3"]
        raw = raw[(raw[used] != -99).all(axis=1)].reset_index(drop=True)
        X = pd.DataFrame({"cusa": raw["cusa"].astype(float)})
        y = raw[["cusl_1", "cusl_2", "cusl_3"]].mean(axis=1).rename("loyalty")
    elif name == "NPreg":
        raw = pd.read_csv(DATA_DIR / "NPreg.csv")
        X = pd.DataFrame({"x": raw["x"], "I(x^2)": raw["x"] ** 2})
        y = raw["yn"].rename("yn")
    else:
        raise KeyError(name)
    return X, y


def simulate_segments(n, intercepts, slopes, sigmas, shares, seed, n_predictors=1):
    """Simulate a clusterwise regression; extra predictors get zero slopes."""
    rng = np.random.default_rng(seed)
    k = len(shares)
    labels = rng.choice(k, size=n, p=shares)
    X = rng.uniform(1, 7, size=(n, n_predictors))
    slope_matrix = np.zeros((k, n_predictors))
    slope_matrix[:, 0] = slopes
    mean = np.asarray(intercepts)[labels] + np.einsum("ij,ij->i", X, slope_matrix[labels])
    y = mean + rng.normal(size=n) * np.asarray(sigmas)[labels]
    names = ["satisfaction"] + [f"z{j}" for j in range(1, n_predictors)]
    return pd.DataFrame(X, columns=names), pd.Series(y, name="loyalty"), labels


def central_differences(total, params, h=1e-5):
    """Numerical gradient and Hessian of ``total(params) -> (value, gradient, ...)`` by central differences.

    The gradient differences the value, the Hessian the analytic gradient.
    """
    params = np.asarray(params, dtype=float)
    gradient = np.empty_like(params)
    hessian = np.empty((len(params), len(params)))
    for j in range(len(params)):
        step = np.zeros_like(params)
        step[j] = h
        up, down = total(params + step), total(params - step)
        gradient[j] = (up[0] - down[0]) / (2 * h)
        hessian[:, j] = (up[1] - down[1]) / (2 * h)
    return gradient, hessian


def assert_row_derivatives_match(family, y, eta, extra, data=None, h=1e-5):
    """A family's analytic per-row derivatives in (eta_i, extra) against central differences.

    First derivatives are checked against differences of ``loglik``, second
    derivatives against differences of the analytic first derivatives;
    ``eta_i`` is per row and the extra parameters are shared, so one
    coordinate is perturbed for all rows at once.
    """
    d1, d2 = family.derivatives(y, eta, extra, data)
    m = len(extra)
    assert d1.shape == (len(y), 1 + m) and d2.shape == (len(y), 1 + m, 1 + m)
    assert np.all(np.isfinite(d1)) and np.all(np.isfinite(d2))
    np.testing.assert_allclose(d2, np.swapaxes(d2, 1, 2), rtol=1e-12, atol=1e-14)
    for j in range(1 + m):
        step_eta = h if j == 0 else 0.0
        step_extra = np.zeros(m)
        if j > 0:
            step_extra[j - 1] = h
        up = (eta + step_eta, extra + step_extra)
        down = (eta - step_eta, extra - step_extra)
        numeric_d1 = (family.loglik(y, *up, data) - family.loglik(y, *down, data)) / (2 * h)
        np.testing.assert_allclose(d1[:, j], numeric_d1, rtol=1e-5, atol=1e-6 * (1 + np.abs(d1).max()))
        numeric_d2 = (family.derivatives(y, *up, data)[0] - family.derivatives(y, *down, data)[0]) / (2 * h)
        np.testing.assert_allclose(d2[:, :, j], numeric_d2, rtol=1e-5, atol=1e-6 * (1 + np.abs(d2).max()))

"""Saving a fitted estimator as a JSON-ready dict and loading it back: one module for both estimators.

:func:`model_to_dict` records the hyperparameters, what the model was
fitted to, the solution and the record of every start;
:func:`model_from_dict` rebuilds a fitted
:class:`~trustseg.model.mixture.ClusterwiseRegression` or
:class:`~trustseg.model.chain.ChainRegression` (a record with equations)
that predicts, infers and summarises exactly as the original did; a
:class:`~trustseg.model.set_aside.SetAsideRegression` is saved as its
group's answers, masses and posteriors around its segments' record.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.base import clone

from trustseg.errors import DataError
from trustseg.model.chain import ChainRegression, EquationSystem, equation_list
from trustseg.model.families import family_from_record
from trustseg.model.mixture import ClusterwiseRegression
from trustseg.model.set_aside import SetAsideRegression

FORMAT = "trustseg.ClusterwiseRegression/4"
#: a set-aside fit's record: the group's answers, masses and posteriors around its segments' record
SET_ASIDE_FORMAT = "trustseg.SetAsideRegression/1"
#: hyperparameters of earlier versions that a chain no longer takes (it is always EM with a constant spread)
_RETIRED_CHAIN_SETTINGS = ("method", "spread")


def variance_floor_setting(floor):
    """A fitted variance floor as a setting (JSON, a refit's ``variance_floor``): None, a number, or one per
    equation (None where an equation has none)."""
    if floor is None:
        return None
    if np.ndim(floor):
        return [None if not np.isfinite(v) else float(v) for v in np.asarray(floor, dtype=float)]
    return float(floor)


def _hyperparameters(model):
    params = model.get_params()
    if isinstance(params["random_state"], np.random.Generator):
        params["random_state"] = None
    if isinstance(params["focal"], Integral):
        params["focal"] = int(params["focal"])
    params["focal_direction"] = int(params["focal_direction"])
    if params["init_params"] is not None:
        family = model.family_
        starts = model._given_starts(family, model.params_.beta.shape[1] - int(family.has_intercept))
        params["init_params"] = [start.as_lists() for start in starts]
    return params


def model_to_dict(model) -> dict:
    """A JSON-serialisable dict that :func:`model_from_dict` turns back into ``model``."""
    if isinstance(model, SetAsideRegression):
        return _set_aside_to_dict(model)
    model._check_fitted()
    record = {
        "format": FORMAT,
        "hyperparameters": _hyperparameters(model),
        "feature_names_in": [str(n) for n in model.feature_names_in_],
        "outcome_name": model.outcome_name_,
        "focal_index": int(model.focal_index_),
        "n_segments": int(model.n_segments_),
        "intercept": model.intercept_.tolist(),
        "coef": model.coef_.tolist(),
        "sigma": model.sigma_.tolist(),
        "weights": model.weights_.tolist(),
        "loglik": float(model.loglik_),
        "classification_loglik": model.classification_loglik_,
        "n_params": int(model.n_params_),
        "n_iter": int(model.n_iter_),
        "n_newton_steps": int(model.n_newton_steps_),
        "converged": bool(model.converged_),
        "start_logliks": model.start_logliks_.tolist(),
        "start_refined": model.start_refined_.tolist(),
        "start_kinds": list(model.start_kinds_),
        "start_stop_reasons": list(model.start_stop_reasons_),
        "start_reached_best": model.start_reached_best_.tolist(),
        "optimum_replicated": bool(model.optimum_replicated_),
        "best_start": int(model.best_start_),
        "n_best_starts": int(model.n_best_starts_),
        "removed_segments": [dict(r) for r in model.removed_segments_],
        "start_admissible": model.start_admissible_.tolist(),
        "start_problems": list(model.start_problems_),
        "problems": list(model.problems_),
        "admissible": bool(model.admissible_),
        "set_aside": list(model.set_aside_),
        "dropped_rows": list(model.dropped_rows_),
        "n_obs": int(model.n_obs_),
        "sum_weights": float(model.sum_weights_),
        "outcome_variance": float(model.outcome_variance_),
        "variance_floor": variance_floor_setting(model.variance_floor_),
        "family": model.family_.name,
        "family_settings": dict(model.family_settings_),
        "extra": model.extra_.tolist(),
    }
    if isinstance(model, ChainRegression):
        record["equations"] = [{"outcome": o, "predictors": list(p)} for o, p in model.equations_]
    return record


def _floor(value):
    if value is None:
        return None
    if isinstance(value, list):
        return np.array([np.nan if v is None else v for v in value], dtype=float)
    return float(value)


def _set_aside_to_dict(fit) -> dict:
    return {
        "format": SET_ASIDE_FORMAT,
        "max_iter": int(fit.max_iter),
        "values": fit.set_aside_values_.tolist(),
        "masses": fit.set_aside_masses_.tolist(),
        "posteriors": fit.set_aside_posteriors_.tolist(),
        "answer_log_scale": fit.answer_log_scale_.tolist(),
        "loglik": float(fit.loglik_),
        "loglik_path": fit.loglik_path_.tolist(),
        "n_params": int(fit.n_params_),
        "n_obs": int(fit.n_obs_),
        "n_iter": int(fit.n_iter_),
        "converged": bool(fit.converged_),
        "segments": model_to_dict(fit.model_),
    }


def _set_aside_from_dict(d) -> SetAsideRegression:
    model = model_from_dict(d["segments"])
    fit = SetAsideRegression(clone(model), d["values"], d["max_iter"])
    fit.model_ = model
    fit.set_aside_values_ = np.asarray(d["values"], dtype=float)
    fit.set_aside_masses_ = np.asarray(d["masses"], dtype=float)
    fit.set_aside_share_ = float(fit.set_aside_masses_.sum())
    fit.set_aside_posteriors_ = np.asarray(d["posteriors"], dtype=float)
    fit.answer_log_scale_ = np.asarray(d["answer_log_scale"], dtype=float)
    fit.loglik_ = float(d["loglik"])
    fit.loglik_path_ = np.asarray(d["loglik_path"], dtype=float)
    for name in ("n_params", "n_obs", "n_iter"):
        setattr(fit, name + "_", int(d[name]))
    fit.converged_ = bool(d["converged"])
    return fit


def model_from_dict(d):
    """Rebuild a fitted model from :func:`model_to_dict` output."""
    if d.get("format") == SET_ASIDE_FORMAT:
        return _set_aside_from_dict(d)
    if d.get("format") != FORMAT:
        raise DataError(
            f"this fitted model was saved as {d.get('format')!r}, which this version of trustseg "
            f"({FORMAT}) cannot read; fit it again (delete the old results/ and rerun)"
        )
    hyper = dict(d["hyperparameters"])
    chain = "equations" in hyper
    if chain:
        for key in _RETIRED_CHAIN_SETTINGS:
            hyper.pop(key, None)
    model = (ChainRegression if chain else ClusterwiseRegression)(**hyper)
    if chain:
        model.equations_ = equation_list(d["equations"])
    k = int(d["n_segments"])
    model.feature_names_in_ = np.asarray(d["feature_names_in"], dtype=object)
    model.n_features_in_ = len(d["feature_names_in"])
    model.outcome_name_ = d["outcome_name"]
    model.focal_index_ = int(d["focal_index"])
    model.n_segments_ = k
    model.intercept_ = np.asarray(d["intercept"], dtype=float)
    model.coef_ = np.asarray(d["coef"], dtype=float).reshape(k, -1)
    model.sigma_ = np.asarray(d["sigma"], dtype=float)
    model.weights_ = np.asarray(d["weights"], dtype=float)
    model.extra_ = np.asarray(d["extra"], dtype=float).reshape(k, -1)
    model.loglik_ = float(d["loglik"])
    model.classification_loglik_ = d["classification_loglik"]
    for name in ("n_params", "n_iter", "n_newton_steps", "best_start", "n_best_starts", "n_obs"):
        setattr(model, name + "_", int(d[name]))
    model.converged_ = bool(d["converged"])
    model.optimum_replicated_ = bool(d["optimum_replicated"])
    model.start_logliks_ = np.asarray(d["start_logliks"], dtype=float)
    model.start_refined_ = np.asarray(d["start_refined"], dtype=bool)
    model.start_kinds_ = list(d["start_kinds"])
    model.start_stop_reasons_ = list(d["start_stop_reasons"])
    model.start_reached_best_ = np.asarray(d["start_reached_best"], dtype=bool)
    model.removed_segments_ = [dict(r) for r in d["removed_segments"]]
    model.start_admissible_ = np.asarray(d.get("start_admissible", [True] * len(d["start_logliks"])), dtype=bool)
    model.start_problems_ = list(d.get("start_problems", [""] * len(d["start_logliks"])))
    model.problems_ = list(d.get("problems", [""] * k))
    model.admissible_ = bool(d.get("admissible", True))
    model.set_aside_ = list(d.get("set_aside", []))
    model.dropped_rows_ = list(d["dropped_rows"])
    model.sum_weights_ = float(d["sum_weights"])
    model.outcome_variance_ = float(d["outcome_variance"])
    model.variance_floor_ = _floor(d["variance_floor"])
    model.family_ = (EquationSystem.from_settings(d["family_settings"]) if chain
                     else family_from_record(d["family"], d["family_settings"]))
    model.family_settings_ = dict(d["family_settings"])
    return model

"""The fitted models the fit stages write to ``results/<analysis>/fits/`` (``k<K>.json``, ``set_aside.json``)."""

from __future__ import annotations

from pathlib import Path

from trustseg.model.persistence import model_from_dict
from trustseg.model.set_aside import SetAsideRegression
from trustseg.model.validation import weight_values
from trustseg.stages.common import read_json


def load_model(path: str | Path):
    """The fitted model stored in one fit file (a ClusterwiseRegression, ChainRegression or SetAsideRegression)."""
    return model_from_dict(read_json(path)["model"])


def segments_of(fit, w):
    """The segments' model, their weights and each respondent's set-aside probability (None without a group).

    Beside a set-aside group (:class:`~trustseg.model.set_aside.SetAsideRegression`)
    the segments are its ``model_``, each respondent weighted by ``w`` times
    the chance of not being set aside, as they were fitted.
    """
    if not isinstance(fit, SetAsideRegression):
        return fit, w, None
    aside = fit.set_aside_posteriors_
    return fit.model_, weight_values(w, len(aside), None) * (1 - aside), aside

"""Reading the fitted models the fit stage writes to ``results/<analysis>/fits/k<K>.json``."""

from __future__ import annotations

from pathlib import Path

from trustseg.model.persistence import model_from_dict
from trustseg.stages.common import read_json


def load_model(path: str | Path):
    """The fitted model stored in one ``fits/k<K>.json`` (a ClusterwiseRegression or a ChainRegression)."""
    return model_from_dict(read_json(path)["model"])

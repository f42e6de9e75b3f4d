"""trustseg: clusterwise regression of repurchase and trust on satisfaction.

The public API is loaded lazily so that importing one module (say the cleaning
rules inside a workflow job) does not pay for the others, and ``import trustseg``
needs only the core install (``pip install trustseg``: no Snakemake, plotting or
notebooks).  ``__version__`` is the one place the version is written
(``pyproject.toml`` reads it; CITATION.cff and CHANGELOG.md are checked against
it by the tests).
"""

from __future__ import annotations

import importlib

__version__ = "0.2.0"

_PUBLIC = {
    "ClusterwiseRegression": "trustseg.model.mixture",
    "ChainRegression": "trustseg.model.chain",
    "select_segments": "trustseg.model.selection",
    "criteria_table": "trustseg.model.selection",
    "MixtureInference": "trustseg.model.inference",
    "profile_table": "trustseg.model.profiles",
    "membership_model": "trustseg.model.membership",
    "bootstrap_replicates": "trustseg.model.bootstrap",
    "lr_test": "trustseg.model.bootstrap",
    "simulate_golf_survey": "trustseg.survey.simulate",
    "read_survey": "trustseg.survey.io",
    "clean_survey": "trustseg.survey.cleaning",
    "load_config": "trustseg.config",
    "TrustsegError": "trustseg.errors",
}

__all__ = sorted(_PUBLIC) + ["__version__"]


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'trustseg' has no attribute {name!r}")

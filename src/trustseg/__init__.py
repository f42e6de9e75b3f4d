"""trustseg: clusterwise regression of repurchase and trust on satisfaction.

The public API is loaded lazily so that importing one module (say the cleaning
rules inside a workflow job) does not pay for the others.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_PUBLIC = {
    "ClusterwiseRegression": "trustseg.mixture",
    "select_segments": "trustseg.selection",
    "criteria_table": "trustseg.selection",
    "MixtureInference": "trustseg.inference",
    "simulate_golf_survey": "trustseg.simulate",
    "read_survey": "trustseg.io",
    "clean_survey": "trustseg.cleaning",
    "load_config": "trustseg.config",
    "TrustsegError": "trustseg.errors",
}

__all__ = sorted(_PUBLIC) + ["__version__"]


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'trustseg' has no attribute {name!r}")

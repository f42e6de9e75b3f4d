"""Direct, indirect and total effects of the focal predictor through a chain of equations (issue 13).

In a chain such as ``trust ~ satisfaction`` and ``repurchase ~ satisfaction +
trust`` each segment has, on the linear-predictor scale of its equations:

* **paths**: every coefficient of a predictor (satisfaction → trust,
  satisfaction → repurchase, trust → repurchase);
* the **direct** effect of the focal predictor on the final outcome (its
  coefficient in the last equation);
* an **indirect** effect through each chain of mediators: the product of the
  paths along it (satisfaction → trust → repurchase: the satisfaction path
  into trust times the trust path into repurchase);
* the **total** effect: the direct plus every indirect effect.

Standard errors come from the delta method on the full covariance of the
mixture's parameters (an effect is a smooth function of them); because a
product of paths is skewed, the bootstrap percentile intervals
(:func:`bootstrap_effect_intervals`) are reported beside them.  Every effect
gets a verdict as the focal slope does (:mod:`trustseg.model.inference`):
``drives_up`` / ``drives_down`` (shown non-zero and not shown negligible),
``negligible``, ``does_not_drive`` (shown within ±margin) or
``inconclusive``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from trustseg.equations import term_name
from trustseg.model.inference import verdict_columns

EFFECT_KINDS = ("path", "direct", "indirect", "total")
EFFECT_COLUMNS = ["segment", "kind", "path", "estimate", "std_error", "ci_low", "ci_high", "p_zero", "p_tost",
                  "verdict"]
ARROW = " → "


def chain_paths(equations: Sequence[tuple[str, Sequence[str]]], source: str, target: str) -> list[list[str]]:
    """Every directed path from ``source`` to ``target`` through the equations, as lists of variables.

    The direct path first, then the longer ones in the order of the equations.
    """
    into = {outcome: list(predictors) for outcome, predictors in equations}
    paths = []

    def walk(node, tail):
        # build paths backwards from the target: a predictor of node's equation precedes it
        if node == source:
            paths.append([node, *tail])
            return
        for predictor in into.get(node, []):
            walk(predictor, [node, *tail])

    walk(target, [])
    return sorted(paths, key=lambda p: (len(p), [list(into).index(v) if v in into else -1 for v in p]))


def path_label(path: Sequence[str]) -> str:
    return ARROW.join(path)


def _effect_rows(equations, focal, target):
    """What each reported effect is: (kind, label, [(outcome, predictor), ...] products summed over)."""
    effects = []
    for outcome, predictors in equations:
        for predictor in predictors:
            effects.append(("path", path_label([predictor, outcome]), [[(outcome, predictor)]]))
    paths = chain_paths(equations, focal, target)
    terms = [[(b, a) for a, b in zip(path[:-1], path[1:])] for path in paths]
    for path, product in zip(paths, terms):
        effects.append(("direct" if len(path) == 2 else "indirect", path_label(path), [product]))
    if paths:
        effects.append(("total", path_label([focal, target]), terms))
    return effects


def chain_effects(equations, focal: str, coef_names: Sequence[str], param_names: Sequence[str], coef: np.ndarray,
                  cov: np.ndarray, alpha: float = 0.05, equivalence_margin: float = 0.1,
                  verdict_adjustment: str = "none") -> pd.DataFrame:
    """Paths, direct, indirect and total effects of ``focal`` on the last outcome, per segment.

    Parameters
    ----------
    equations : sequence of (outcome, predictors)
    focal : str
        The focal predictor (a predictor of the first equation).
    coef_names : sequence of str
        Names of the columns of ``coef`` (``"<outcome>~<term>"``).
    param_names, cov :
        The mixture's parameter names (``"<segment>:<outcome>~<term>"``) and covariance.
    coef : ndarray (K, Q)
        Each segment's coefficients.
    alpha, equivalence_margin, verdict_adjustment :
        As for the focal verdicts; ``"holm"`` adjusts each effect's tests over the segments.

    Returns
    -------
    DataFrame
        ``EFFECT_COLUMNS`` (plus ``p_zero_adjusted``, ``p_tost_adjusted`` with Holm), one row per segment
        and effect, in the order path, direct, indirect, total.
    """
    target = equations[-1][0]
    column = {name: i for i, name in enumerate(coef_names)}
    position = {name: i for i, name in enumerate(param_names)}
    rows = []
    for kind, label, products in _effect_rows(equations, focal, target):
        estimates, errors = [], []
        for j in range(coef.shape[0]):
            gradient = np.zeros(len(param_names))
            estimate = 0.0
            for product in products:
                values = [coef[j, column[term_name(o, p)]] for o, p in product]
                estimate += float(np.prod(values))
                for i, (o, p) in enumerate(product):
                    # d(prod)/d(path i) = product of the other paths
                    gradient[position[f"{j + 1}:{term_name(o, p)}"]] += float(np.prod(values[:i] + values[i + 1:]))
            variance = float(gradient @ cov @ gradient)
            estimates.append(estimate)
            errors.append(np.sqrt(variance) if variance > 0 else np.nan)
        head = pd.DataFrame({"segment": np.arange(1, len(estimates) + 1), "kind": kind, "path": label,
                             "estimate": estimates, "std_error": errors})
        rows.append(pd.concat([head, verdict_columns(estimates, errors, alpha, equivalence_margin,
                                                     verdict_adjustment)], axis=1))
    out = pd.concat(rows, ignore_index=True)
    # per segment: paths in the order of the equations, then direct, indirect (shortest first), total
    return out.sort_values("segment", kind="stable").reset_index(drop=True)


def bootstrap_effect_intervals(replicates: pd.DataFrame, equations, focal: str, alpha: float = 0.05) -> pd.DataFrame:
    """Percentile intervals of every effect from bootstrap refits.

    ``replicates`` is the long table of :func:`trustseg.model.bootstrap.bootstrap_replicates`
    (``replicate, segment, term, estimate, lost``), ``term`` named ``"<outcome>~<term>"``.
    Returns ``segment, kind, path, boot_ci_low, boot_ci_high, boot_replicates``.
    """
    kept = replicates.loc[~replicates["lost"].astype(bool)]
    wide = kept.pivot_table(index=["replicate", "segment"], columns="term", values="estimate", aggfunc="first")
    target = equations[-1][0]
    rows = []
    for kind, label, products in _effect_rows(equations, focal, target):
        values = np.zeros(len(wide))
        for product in products:
            part = np.ones(len(wide))
            for o, p in product:
                part = part * wide[term_name(o, p)].to_numpy(dtype=float)
            values = values + part
        frame = pd.DataFrame({"segment": wide.index.get_level_values("segment"), "value": values})
        for segment, group in frame.groupby("segment", sort=True):
            finite = group["value"].to_numpy()[np.isfinite(group["value"].to_numpy())]
            low, high = (np.quantile(finite, [alpha / 2, 1 - alpha / 2]) if finite.size else (np.nan, np.nan))
            rows.append({"segment": int(segment), "kind": kind, "path": label, "boot_ci_low": float(low),
                         "boot_ci_high": float(high), "boot_replicates": int(finite.size)})
    return pd.DataFrame(rows)

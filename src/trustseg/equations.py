"""The rules that make an ordered list of regressions a chain (issue 13).

Shared by the config validation (:mod:`trustseg.config`, whose messages name
config keys) and the model (:func:`trustseg.model.chain.equation_list`, whose
messages name equations), so the two cannot disagree on what a chain is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

#: joins an equation's outcome and a term in a coefficient's name ("repurchase~trust")
TERM_SEPARATOR = "~"

#: the rules :func:`chain_order_problems` reports, in the order it checks them within an equation
CHAIN_RULES = ("own_outcome", "repeated_predictor", "repeated_outcome", "later_outcome")


def chain_order_problems(equations: Sequence[tuple[str, Sequence[str]]]) -> list[tuple[int, str, list[str]]]:
    """Where ``(outcome, predictors)`` pairs, in order, break the rules of a chain.

    Returns ``(i, rule, variables)`` per problem, equation by equation
    (``i`` counts from 0) and within one in the order of :data:`CHAIN_RULES`:

    * ``"own_outcome"``: the outcome is among its own predictors (``[outcome]``);
    * ``"repeated_predictor"``: a predictor is listed twice (the predictors);
    * ``"repeated_outcome"``: the outcome is the outcome of an earlier equation
      too (``[outcome]``);
    * ``"later_outcome"``: predictors that are outcomes of later equations, a
      mediator used before it is explained, or a cycle (those predictors).
    """
    outcomes = [outcome for outcome, _ in equations]
    problems = []
    for i, (outcome, predictors) in enumerate(equations):
        predictors = list(predictors)
        if outcome in predictors:
            problems.append((i, "own_outcome", [outcome]))
        if len(set(predictors)) < len(predictors):
            problems.append((i, "repeated_predictor", predictors))
        if outcome in outcomes[:i]:
            problems.append((i, "repeated_outcome", [outcome]))
        later = [p for p in predictors if p in outcomes[i + 1:]]
        if later:
            problems.append((i, "later_outcome", later))
    return problems


def chain_variables(equations: Sequence[tuple[str, Sequence[str]]]) -> list[str]:
    """Every variable the equations read, each once: equation by equation, its outcome, then its predictors."""
    return list(dict.fromkeys(v for outcome, predictors in equations for v in [outcome, *predictors]))


def chain_predictors(equations: Sequence[tuple[str, Sequence[str]]]) -> list[str]:
    """Every predictor of the equations (the mediators among them), each once, in order of first use."""
    return list(dict.fromkeys(p for _, predictors in equations for p in predictors))


def term_name(outcome: str, term: str) -> str:
    """The name of the coefficient of ``term`` in the equation of ``outcome``."""
    return f"{outcome}{TERM_SEPARATOR}{term}"


def expected_problems(analysis: Mapping, key: str) -> list[tuple[str, str]]:
    """``(config key, message)`` for every entry of ``expected`` (:mod:`trustseg.direction`) naming no predictor."""
    expected = analysis.get("expected") or {}
    if "equations" in analysis:
        predictors = chain_predictors([(e["outcome"], list(e["predictors"])) for e in analysis["equations"]])
    else:
        predictors = list(analysis.get("predictors") or [])
    return [(f"{key}.expected.{name}",
             f"config key '{key}.expected' gives a direction for '{name}', which is not a predictor of the analysis "
             f"({', '.join(predictors)}); name one of them, or remove the entry.")
            for name in expected if name not in predictors]

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

Problems and the choice.  Every K's ``problems`` column lists what
:mod:`trustseg.model.diagnostics` finds wrong with its solution (segments on
the variance floor, point masses at a scale bound, a singular information).
:func:`choose_k` chooses the best K *without* problems; only when every K has
problems (or ``allow_flagged``) does a flagged K win, and the ``choice_note``
says so in a sentence.  ``criterion="lr_test"`` chooses by the parametric
bootstrap likelihood-ratio tests instead (sequential testing from the
smallest K up, as in Latent GOLD and flexmix practice): the first K whose test
against K + 1 is not significant at ``alpha``; a flagged K is passed over.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trustseg.errors import DataError
from trustseg.model.diagnostics import problem_codes, problems_phrase, segment_problems, set_aside_sentence
from trustseg.model.likelihood import posterior_criteria
from trustseg.model.mixture import ClusterwiseRegression
from trustseg.model.set_aside import criteria_row, fit_set_aside

#: information criteria (smaller is better)
CRITERIA = ("aic", "aic3", "bic", "caic", "sabic", "icl")
#: every way K can be chosen: an information criterion or the sequential bootstrap LR test
CHOICE_RULES = CRITERIA + ("lr_test",)
COLUMNS = [
    "k", "k_fitted", "loglik", "n_params", "aic", "aic3", "bic", "caic", "sabic", "icl",
    "entropy", "min_share", "n_starts", "n_best_starts", "optimum_replicated", "converged", "problems", "set_aside",
    "chosen", "choice_note",
]


def _criteria_row(model, posterior, w, n):
    loglik = float(model.loglik_)
    n_params = int(model.n_params_)
    return {
        "k": int(model.n_segments),
        "k_fitted": model.n_segments_,
        "loglik": loglik,
        "n_params": n_params,
        **posterior_criteria(loglik, n_params, n, posterior, w),
        "min_share": float(model.weights_.min()),
        "n_starts": int(len(model.start_logliks_)),
        "n_best_starts": int(model.n_best_starts_),
        "optimum_replicated": bool(model.optimum_replicated_),
        "converged": bool(model.converged_),
    }


def criteria_table(models, X, y, sample_weight=None, criterion="bic", *, allow_flagged=False,
                   lr_p_values=None, alpha=0.05, family_data=None):
    """Model-selection table from already-fitted models.

    Parameters
    ----------
    models : dict {k: ClusterwiseRegression} or iterable of fitted models
        Fitted on (X, y, sample_weight), e.g. rebuilt with ``from_dict``.
    X, y, sample_weight
        The data the models were fitted to (needed for the posteriors).
    criterion : {"aic", "aic3", "bic", "caic", "sabic", "icl", "lr_test"}
        How K is chosen (see :func:`choose_k`).
    allow_flagged : bool, default False
        Let a K with problems be chosen when its criterion is best.
    lr_p_values : mapping {k: p-value}, optional
        Bootstrap LR test of K against K + 1; needed for ``criterion="lr_test"``.
    alpha : float, default 0.05
        Significance level of the sequential LR test.
    family_data : dict, optional
        The trials or offset the models were fitted with (see
        :meth:`~trustseg.model.mixture.ClusterwiseRegression.fit`).

    Returns
    -------
    DataFrame
        One row per model, sorted by k, columns ``COLUMNS``: ``problems``
        holds :func:`~trustseg.model.diagnostics.problem_codes` of each K,
        ``chosen`` marks the chosen K and ``choice_note`` (on its row) says in
        a sentence why it was chosen when the plain criterion would have
        chosen another K, or how the sequential test ran.
    """
    if criterion not in CHOICE_RULES:
        raise ValueError(f"criterion must be one of {CHOICE_RULES}, not {criterion!r}")
    fitted = list(models.values()) if isinstance(models, dict) else list(models)
    if not fitted:
        raise ValueError("no models given")
    data, _ = fitted[0]._validated(X, y, sample_weight, family_data)  # as the models read them (a chain too)
    w, n = data["w"], data["X"].shape[0]
    rows = []
    for model in fitted:
        if model.n_obs_ != n:
            raise DataError(
                f"the K={model.n_segments} model was fitted to {model.n_obs_} respondents "
                f"but the data given have {n}"
            )
        posterior = model.predict_proba(X, y, family_data=family_data)
        problems = problem_codes(segment_problems(model, X, y, sample_weight, family_data=family_data))
        rows.append({**_criteria_row(model, posterior, w, n), "problems": problems,
                     "set_aside": set_aside_sentence(model)})
    table = pd.DataFrame(rows).sort_values(["k"], kind="stable").reset_index(drop=True)
    return _mark_choice(table, criterion, allow_flagged=allow_flagged, lr_p_values=lr_p_values, alpha=alpha)[COLUMNS]


def _mark_choice(table, criterion, **options):
    """``table`` with the ``chosen`` row (:func:`choose_k`) and its ``choice_note``."""
    chosen, note = choose_k(table, criterion, **options)
    table["chosen"] = table.index == chosen
    table["choice_note"] = np.where(table["chosen"], note, "")
    return table


def choose_k(table, criterion="bic", *, allow_flagged=False, lr_p_values=None, alpha=0.05):
    """The row of ``table`` to choose, and a sentence saying why when it needs saying.

    Rows whose model removed a segment (``k_fitted < k``) are never chosen.
    With an information criterion: the K with the smallest value among those
    without ``problems``; the note names the K with the smallest value
    overall and its problems when that one was passed over.  With
    ``criterion="lr_test"``: K rises from the smallest candidate while the
    test of K against K + 1 is significant (``p < alpha``); the first K whose
    test is not, or that has no K + 1 to be tested against, is chosen, and a
    K with problems is passed over.  Only when every K has problems, or
    ``allow_flagged`` is true, is a K with problems chosen (the note says so).

    Parameters
    ----------
    table : DataFrame
        ``k``, ``k_fitted``, the criterion's column and ``problems`` (empty
        text or NaN for none), one row per K.
    criterion, allow_flagged, lr_p_values, alpha
        As for :func:`criteria_table`.

    Returns
    -------
    (index label or None, str)
        None when every row removed a segment.
    """
    if criterion not in CHOICE_RULES:
        raise ValueError(f"criterion must be one of {CHOICE_RULES}, not {criterion!r}")
    eligible = table["k_fitted"] == table["k"]
    if not eligible.any():
        return None, ""
    problems = (table["problems"].astype(object).fillna("").astype(str) if "problems" in table.columns
                else pd.Series("", index=table.index))
    flagged = problems.str.len() > 0
    clean = eligible & ~flagged
    pass_over = flagged if clean.any() and not allow_flagged else pd.Series(False, index=table.index)

    def phrase(row):
        return problems_phrase(problems[row], int(table.loc[row, "k_fitted"]))

    if criterion == "lr_test":
        chosen, note = _sequential_test(table, eligible, pass_over, lr_p_values or {}, alpha, phrase)
    else:
        name = criterion.upper()
        best = table.loc[eligible, criterion].idxmin()
        chosen, note = best, ""
        if flagged[best]:
            k_best = int(table.loc[best, "k"])
            if pass_over[best]:
                chosen = table.loc[clean, criterion].idxmin()
                # every K that beat the chosen one is named, not only the best: a reader sees why each was skipped
                also = table.loc[eligible & flagged & (table[criterion] < table.loc[chosen, criterion])]
                also = also.drop(index=best).sort_values(criterion)
                others = "".join(f"; K = {int(table.loc[r, 'k'])} also has a lower {name}, but {phrase(r)}"
                                 for r in also.index)
                return chosen, (f"K = {k_best} had the lowest {name}, but {phrase(best)}{others}; "
                                f"K = {int(table.loc[chosen, 'k'])} is the best without problems.")
            note = f"K = {k_best} has the lowest {name}."
    if flagged[chosen]:
        k = int(table.loc[chosen, "k"])
        why = ("allow_flagged is true" if allow_flagged and clean.any()
               else "every candidate number of segments has problems")
        note += f" K = {k} is chosen because {why}, although {phrase(chosen)}."
    return chosen, note.strip()


def _sequential_test(table, eligible, pass_over, p_values, alpha, phrase):
    """Sequential bootstrap LR testing from the smallest K up (see :func:`choose_k`)."""
    candidates = {int(k) for k in table["k"]}
    steps, chosen, passed = [], None, []

    def say_passed():
        if passed:
            ks = ", ".join(map(str, passed[:-1])) + (f" and {passed[-1]}" if len(passed) > 1 else str(passed[0]))
            steps.append(f"K = {ks} {'are' if len(passed) > 1 else 'is'} passed over because of "
                         f"{'their' if len(passed) > 1 else 'its'} problems")
            passed.clear()

    for row in table.index[eligible]:
        k = int(table.loc[row, "k"])
        if pass_over[row]:
            passed.append(k)
            continue
        say_passed()
        chosen = row
        if k + 1 not in candidates:
            steps.append(f"K = {k} has no fit with {k + 1} segments to be tested against, so K = {k} is kept")
            break
        p = p_values.get(k)
        if p is None or not np.isfinite(float(p)):
            steps.append(f"the test of K = {k} against {k + 1} gave no p-value, so K = {k} is kept")
            break
        if float(p) >= alpha:
            steps.append(f"K = {k} against {k + 1}: p = {float(p):.3f} \u2265 {alpha:g}, so K = {k} is kept")
            break
        steps.append(f"K = {k} against {k + 1}: p = {float(p):.3f} < {alpha:g}")
    else:
        say_passed()
        if chosen is not None:
            steps.append(f"every test rejected the smaller model, and K = {int(table.loc[chosen, 'k'])} "
                         "is the largest without problems")
    if chosen is None:  # cannot happen: pass_over leaves at least one eligible K
        raise AssertionError("no K left to choose")
    return chosen, "Sequential bootstrap likelihood-ratio tests: " + "; ".join(steps) + "."


def select_segments(
    X,
    y,
    k_range=range(1, 7),
    n_init=20,
    random_state=0,
    criterion="bic",
    sample_weight=None,
    return_models=False,
    allow_flagged=False,
    set_aside=False,
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
    allow_flagged
        As for :func:`criteria_table`.
    set_aside : bool, default False
        Also fit every K beside a group of respondents set aside at the
        answers the spurious segments sat on (:mod:`trustseg.model.set_aside`):
        a row per K and answer set, its ``set_aside_group`` column saying
        who was set aside, ``set_aside_answers`` the answers (None on plain rows);
        the models gain those fits under the keys ``(k, answers)``.  The
        criterion chooses among all rows.
    **estimator_params
        Further :class:`ClusterwiseRegression` parameters (method, min_share, ...).

    Returns
    -------
    DataFrame, or (DataFrame, dict)
    """
    if criterion not in CRITERIA:
        raise ValueError(
            f"criterion must be one of {CRITERIA}, not {criterion!r}; 'lr_test' needs the bootstrap LR tests: "
            "run trustseg.model.bootstrap.lr_test for each K and pass the p-values to "
            "criteria_table(..., criterion='lr_test', lr_p_values=...)"
        )
    models = {}
    for k in k_range:
        models[int(k)] = ClusterwiseRegression(
            n_segments=int(k), n_init=n_init, random_state=random_state, **estimator_params
        ).fit(X, y, sample_weight=sample_weight)
    table = criteria_table(models, X, y, sample_weight=sample_weight, criterion=criterion,
                           allow_flagged=allow_flagged)
    if set_aside:
        table, models = _with_set_aside(table, models, X, y, sample_weight, criterion, allow_flagged)
    return (table, models) if return_models else table


def _with_set_aside(table, models, X, y, sample_weight, criterion, allow_flagged):
    """The table with a row per K and set-aside answer set (:mod:`trustseg.model.set_aside`), chosen again.

    The models gain the set-aside fits under the keys ``(k, answers)``.
    """
    if criterion == "lr_test":
        raise ValueError("set_aside needs an information criterion; the LR tests know nothing of set-aside groups")
    fits = fit_set_aside(models, X, y, sample_weight)
    if not fits:
        return table.assign(set_aside_answers=None, set_aside_group=""), models
    table = _choose_among(table, set_aside_table(fits, X, y, sample_weight), criterion, allow_flagged)
    return table[[*COLUMNS, "set_aside_answers", "set_aside_group"]], {**models, **fits}


def answers_text(answers) -> str:
    """Set-aside answers as the text of a table cell: "1.5 2" (ten significant digits, to find them again)."""
    return " ".join(f"{float(v):.10g}" for v in answers)


def set_aside_table(fits, X, y, sample_weight=None) -> pd.DataFrame:
    """A model-selection row (:func:`~trustseg.model.set_aside.criteria_row`) per set-aside fit, in the fits' order."""
    return pd.DataFrame([criteria_row(fit, X, y, sample_weight) for fit in fits.values()])


def _choose_among(table, aside, criterion, allow_flagged):
    """The plain rows and the set-aside rows in one table sorted by K, the choice marked among all of them."""
    both = pd.concat([table.drop(columns=["chosen", "choice_note"]).assign(set_aside_answers=None,
                                                                            set_aside_group=""), aside],
                     ignore_index=True).sort_values(["k"], kind="stable").reset_index(drop=True)
    return _mark_choice(both, criterion, allow_flagged=allow_flagged)


def choose_with_set_aside(table, aside, criterion="bic", *, allow_flagged=False):
    """Choose among ``table``'s K (one row each) and the set-aside rows ``aside`` (:func:`set_aside_table`).

    Returns ``(table, aside)`` each with ``chosen`` and ``choice_note``: when
    a set-aside row wins, its K's row in ``table`` is marked chosen too, its
    ``set_aside_answers`` and ``set_aside_group`` name the group, and its note
    says what the group beat.  Without set-aside rows ``table`` is returned
    with empty set-aside columns.
    """
    if aside.empty:
        return table.assign(set_aside_answers=None, set_aside_group=""), aside.assign(chosen=False, choice_note="")
    both = _choose_among(table, aside, criterion, allow_flagged)
    table = table.assign(set_aside_answers=None, set_aside_group="")
    winner = both.loc[both["chosen"]].iloc[0]
    marked = aside.assign(chosen=False, choice_note="")
    if not isinstance(winner["set_aside_answers"], tuple):  # a plain K won
        return table, marked
    at = marked["set_aside_answers"].map(lambda a: a == winner["set_aside_answers"]) & (marked["k"] == winner["k"])
    marked.loc[at, "chosen"] = True
    plain = table.loc[table["chosen"]].iloc[0] if table["chosen"].any() else None
    beat = (f"against {plain[criterion]:.1f} for K = {int(plain['k'])} without one" if plain is not None
            else "no K without one is admissible")
    among = " of the solutions without problems" if (both[criterion] < winner[criterion]).any() else ""
    note = (f"K = {int(winner['k'])} with a set-aside group has the lowest {criterion.upper()}{among} "
            f"({winner[criterion]:.1f}, {beat}): {winner['set_aside_group']}.")
    marked.loc[at, "choice_note"] = note
    row = table.index[table["k"] == winner["k"]][0]
    table["chosen"] = table.index == row
    table["choice_note"] = np.where(table["chosen"], note, "")
    table.at[row, "set_aside_answers"] = answers_text(winner["set_aside_answers"])
    table.at[row, "set_aside_group"] = winner["set_aside_group"]
    return table, marked

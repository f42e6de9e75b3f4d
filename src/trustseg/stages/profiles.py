"""Stage 4 (workflow/rules/profiles.smk): who the segments are."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import pandas as pd

from trustseg.errors import ConfigError
from trustseg.report.tables import write_table
from trustseg.stages.common import (
    POSTERIOR_PREFIX,
    SET_ASIDE_COLUMN,
    analysis_data,
    derive_seed,
    match_respondents,
    more_likely_set_aside,
    read_clean,
    stem,
)

logger = logging.getLogger("trustseg")

# The membership model always reports 95% intervals, whatever the analysis's
# alpha; the workflow records the level in results/<analysis>/analysis.json.
MEMBERSHIP_ALPHA = 0.05


def profiles(clean_path: str, assignments_path: str, name: str, outputs: Mapping[str, str], *,
             variables: Sequence[str], weight_column: str | None, seed: int, outcome: str,
             predictors: Sequence[str], profile_order: Mapping[str, Sequence] | None = None,
             data_path: str | None = None, data_format: str = "auto",
             family_columns: Mapping[str, str] | None = None, equations: Sequence | None = None,
             profile_categorical: Sequence[str] = ()) -> None:
    """Who the segments are: profile table and the BCH-corrected membership model.

    Categories are listed in the order of ``profile_order`` (the config key),
    else of the value labels of the data file at ``data_path`` (SPSS, Stata),
    else in natural order (see :func:`trustseg.model.levels.order_levels`).
    A variable in ``profile_categorical`` or ``profile_order`` is read as
    categories however many codes it has (:func:`declared_categories`).
    """
    from trustseg.model.membership import membership_model
    from trustseg.model.profiles import profile_table

    clean_df = read_clean(clean_path)
    assignments = pd.read_csv(assignments_path, dtype={"respondent_id": str})
    # the analysis's respondents, in the order the fit saw them; matching by id
    # and occurrence keeps repeated ids (cleaning.flagged_action: keep) apart
    ids = analysis_data(clean_df, outcome, predictors, name, weight_column, family_columns, equations)[3]
    rows = match_respondents(ids, assignments, assignments_path)
    data = pd.concat([assignments.iloc[rows].reset_index(drop=True),
                      clean_df.loc[ids.index].drop(columns="respondent_id").reset_index(drop=True)], axis=1)
    if SET_ASIDE_COLUMN in data.columns:  # the set-aside group is no segment: profiled are the segments' members
        aside = more_likely_set_aside(data[SET_ASIDE_COLUMN])
        logger.info("analysis %s: %d respondents more likely set aside than in a segment are not profiled", name,
                    int(aside.sum()))
        data = data.loc[~aside].reset_index(drop=True)
    posteriors = data[[c for c in assignments.columns if c.startswith(POSTERIOR_PREFIX)]].to_numpy()
    variables = list(variables)
    level_orders = category_orders(variables, profile_order or {}, data_path, data_format)
    _warn_unlisted_levels(data, profile_order or {})
    data = declared_categories(data, [*profile_categorical, *(profile_order or {})])
    table = profile_table(
        data, data["segment"], variables, posteriors=posteriors, seed=derive_seed(seed, name, "profiles"),
        level_orders=level_orders,
    )
    write_table(table, stem(outputs["profiles"]), caption=f"Who is in each segment of analysis {name}.")
    weights = data[weight_column].to_numpy(dtype=float) if weight_column else None
    membership = membership_model(data, posteriors, variables, weights=weights, alpha=MEMBERSHIP_ALPHA,
                                  level_orders=level_orders)
    membership = _membership_notes(membership)
    write_table(membership, stem(outputs["membership"]),
                caption=(f"What predicts segment membership (analysis {name}): multinomial logit against segment 1, "
                         "BCH-corrected for classification error."))


def _membership_notes(membership: pd.DataFrame) -> pd.DataFrame:
    """The membership table's notes as a reader needs them: no note that nobody was dropped, plurals right."""
    if "note" not in membership.columns or not len(membership):
        return membership
    dropped = int(membership.attrs.get("n_dropped", 0) or 0)

    def reword(note):
        if not isinstance(note, str):
            return note
        parts = [part.strip() for part in note.split(";")]
        if dropped == 0:
            said = ("0 respondent(s)", f"{membership.attrs.get('n_used')} used")
            parts = [p for p in parts if not p.startswith(said)]
        text = "; ".join(parts)
        return text.replace("1 respondent(s)", "1 respondent").replace("respondent(s)", "respondents")

    out = membership.copy()
    out["note"] = out["note"].map(reword)
    out.attrs.update(membership.attrs)
    return out


def declared_categories(data: pd.DataFrame, variables: Sequence[str]) -> pd.DataFrame:
    """``data`` with ``variables`` as categorical columns, so that profiles and membership read codes as categories.

    A nominal code (occupation 1-12) or a band code has more distinct values
    than :data:`trustseg.model.levels.MAX_LEVELS`, and its mean would mean
    nothing; the config names such variables.
    """
    out = data.copy()
    for variable in dict.fromkeys(variables):
        if variable in out and not isinstance(out[variable].dtype, pd.CategoricalDtype):
            out[variable] = out[variable].astype("category")
    return out


def category_orders(variables: Sequence[str], profile_order: Mapping[str, Sequence], data_path: str | None,
                    data_format: str = "auto") -> dict[str, list]:
    """The order of each profile variable's categories: config key ``profile_order``, else the file's value labels.

    Raises :class:`~trustseg.errors.ConfigError` when ``profile_order`` names
    a variable that is not a profile variable.
    """
    from trustseg.survey.io import value_label_order

    unknown = [v for v in profile_order if v not in variables]
    if unknown:
        raise ConfigError(
            f"config key 'profile_order' names {unknown}, which {'is' if len(unknown) == 1 else 'are'} not among "
            f"the profile variables {list(variables)}. Add {'it' if len(unknown) == 1 else 'them'} to 'profile' "
            "or remove the entry from 'profile_order'."
        )
    orders = {}
    if data_path:
        orders.update({v: order for v, order in value_label_order(data_path, {"format": data_format}).items()
                       if v in variables})
    orders.update({v: list(order) for v, order in profile_order.items()})
    return orders


def _warn_unlisted_levels(data: pd.DataFrame, profile_order: Mapping[str, Sequence]) -> None:
    """Say which categories in the data ``profile_order`` leaves out (they are listed after the others)."""
    from trustseg.model.levels import level_text

    for variable, order in profile_order.items():
        listed = {level_text(v) for v in order}
        present = list(dict.fromkeys(level_text(v) for v in data[variable].dropna()))
        unlisted = [v for v in present if v not in listed]
        if not unlisted:
            continue
        absent = [level_text(v) for v in order if level_text(v) not in present]
        logger.warning(
            "config key 'profile_order.%s' does not list the categor%s %s, which the data hold; %s listed after the "
            "others.%s",
            variable, "y" if len(unlisted) == 1 else "ies", ", ".join(repr(v) for v in unlisted),
            "it is" if len(unlisted) == 1 else "they are",
            f" It lists {', '.join(repr(v) for v in absent)}, which no respondent has: check the spelling."
            if absent else "",
        )

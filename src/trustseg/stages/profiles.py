"""Stage 4 (workflow/rules/profiles.smk): who the segments are."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import pandas as pd

from trustseg.report.tables import write_table
from trustseg.stages.common import (
    POSTERIOR_PREFIX,
    analysis_data,
    derive_seed,
    match_respondents,
    read_clean,
    stem,
)

logger = logging.getLogger("trustseg")

# The membership model always reports 95% intervals, whatever the analysis's
# alpha; the workflow records the level in results/<analysis>/analysis.json.
MEMBERSHIP_ALPHA = 0.05


def profiles(clean_path: str, assignments_path: str, name: str, outputs: Mapping[str, str], *,
             variables: Sequence[str], weight_column: str | None, seed: int, outcome: str,
             predictors: Sequence[str]) -> None:
    """Who the segments are: profile table and the BCH-corrected membership model."""
    from trustseg.model.profiles import membership_model, profile_table

    clean_df = read_clean(clean_path)
    assignments = pd.read_csv(assignments_path, dtype={"respondent_id": str})
    # the analysis's respondents, in the order the fit saw them; matching by id
    # and occurrence keeps repeated ids (cleaning.flagged_action: keep) apart
    _, _, _, ids = analysis_data(clean_df, outcome, predictors, name, weight_column)
    rows = match_respondents(ids, assignments, assignments_path)
    data = pd.concat([assignments.iloc[rows].reset_index(drop=True),
                      clean_df.loc[ids.index].drop(columns="respondent_id").reset_index(drop=True)], axis=1)
    posteriors = data[[c for c in assignments.columns if c.startswith(POSTERIOR_PREFIX)]].to_numpy()
    variables = list(variables)
    table = profile_table(
        data, data["segment"], variables, posteriors=posteriors, seed=derive_seed(seed, name, "profiles")
    )
    write_table(table, stem(outputs["profiles"]), caption=f"Who is in each segment of analysis {name}.")
    weights = data[weight_column].to_numpy(dtype=float) if weight_column else None
    membership = membership_model(data, posteriors, variables, weights=weights, alpha=MEMBERSHIP_ALPHA)
    write_table(membership, stem(outputs["membership"]),
                caption=(f"What predicts segment membership (analysis {name}): multinomial logit against segment 1, "
                         "BCH-corrected for classification error."))

"""Stage 1 (workflow/rules/cleaning.smk): read the raw survey, clean it, score the constructs."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from trustseg.report.tables import write_table
from trustseg.stages.common import stem, write_csv

logger = logging.getLogger("trustseg")


def clean(config: Mapping, outputs: Mapping[str, str]) -> None:
    """Read the raw survey, apply the cleaning rules, score and check reliability.

    Outputs (keys of ``outputs``): ``clean``, ``report``, ``flagged``,
    ``reliability`` and optionally ``piles`` (CSV paths; Markdown/LaTeX
    twins are written beside the report, reliability and piles tables).
    ``piles`` lists the answer values held by a large share of respondents
    on every construct score and every variable an analysis uses
    (:func:`trustseg.survey.piles.answer_piles`).
    """
    from trustseg.survey.cleaning import clean_survey
    from trustseg.survey.io import read_survey
    from trustseg.survey.piles import PILE_SHARE, answer_piles
    from trustseg.survey.privacy import pseudonym_key, resolve_pseudonym_key
    from trustseg.survey.reliability import reliability_table

    data_cfg = config["data"]
    raw = read_survey(data_cfg["path"], data_cfg)
    logger.info("read %d rows and %d columns from %s", len(raw), raw.shape[1], data_cfg["path"])
    key_file = resolve_pseudonym_key(config)
    # the key is read (or made) only when some respondent ids hold personal data
    result = clean_survey(raw, dict(config), pseudonym_key=lambda: pseudonym_key(key_file))
    reliability = reliability_table(result.clean, config["constructs"])
    for _, row in result.report.iterrows():
        logger.info("cleaning rule %-22s rows affected %6s  %s", row["rule"], row["rows_affected"], row["action"])
    if "warning" in reliability:
        for warning in reliability["warning"].dropna().unique():
            if str(warning).strip():
                logger.warning("reliability: %s", warning)

    write_csv(result.clean, outputs["clean"])
    write_csv(result.flagged, outputs["flagged"])
    write_table(result.report, stem(outputs["report"]), caption="Cleaning rules: respondents and answers affected.")
    write_table(reliability, stem(outputs["reliability"]), caption="Reliability of the construct scores.")
    if "piles" in outputs:
        variables = [*config["constructs"], *config.get("analysis_variables", [])]
        piles = answer_piles(result.clean, variables)
        for sentence in piles["sentence"]:
            logger.info("coarse answers: %s", sentence)
        write_table(piles, stem(outputs["piles"]),
                    caption=f"Answer values held by at least {PILE_SHARE:.0%} of the respondents who answered, on "
                            "every construct score and analysis variable: where the data are coarse.")
    logger.info("clean data: %d respondents kept, %d flagged", len(result.clean), len(result.flagged))

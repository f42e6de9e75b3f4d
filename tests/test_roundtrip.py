"""Nothing lost, nothing changed: identifiers and numbers of any length and form through the whole cleaning stage.

A property test: hypothesis draws respondent ids (digit strings of any length with leading zeros, numbers in
any notation, text in any script) and profile numbers (whole numbers up to 30 digits, floats, long decimals,
1e300), writes them into a small survey, runs the start-up checks and the cleaning stage as the workflow's
job runs it, and reads ``clean.csv`` back as the later stages do.  Either the start-up stops with a message
that names the column and the rows of a number no computer number holds exactly, or every id comes back
exactly as written (or as its keyed pseudonym, when the ids hold personal data) and every number as the same
decimal number.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import hmac
import tempfile
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trustseg.config import validate_config
from trustseg.errors import TrustsegError
from trustseg.stages.cleaning import clean
from trustseg.stages.common import read_clean
from trustseg.stages.startup import check_inputs
from trustseg.survey.privacy import personal_ids, personal_in

N = 24
ITEMS = ["s1", "s2", "r1", "r2"]
CONFIG = {
    "data": {"path": None, "id_column": "rid"},
    "constructs": {"sat": {"items": ["s1", "s2"], "scale": [1, 7]}, "rep": {"items": ["r1", "r2"], "scale": [1, 7]}},
    "cleaning": {"straightlining": {"enabled": False}, "suspected_missing_codes": "warn"},
    "profile": ["spend"],
    "analyses": {"a": {"outcome": "rep", "predictors": ["sat"], "segments": [1]}},
}
_ANSWERS = np.random.default_rng(7).integers(1, 8, size=(N, len(ITEMS)))

ids = st.one_of(
    st.text(alphabet="0123456789", min_size=1, max_size=40),  # any length, leading zeros
    st.integers(-10**30, 10**30).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),  # 1e+16, -0.0, 1.5
    st.from_regex(r"[A-Za-z]{1,3}-?\d{1,12}", fullmatch=True),
    st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=12),
)
numbers = st.one_of(
    st.integers(-10**30, 10**30).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.decimals(allow_nan=False, allow_infinity=False).map(lambda d: format(d, "f")),
    st.sampled_from(["1e300", "-1e-300", "0.1", "007", "1E5", "+3", "99999999999999999999"]),
)


@st.composite
def surveys(draw):
    rids = draw(st.lists(ids, min_size=N, max_size=N, unique_by=lambda v: v))
    spend = draw(st.lists(st.one_of(numbers, st.just("")), min_size=N, max_size=N))
    return rids, spend


def _held(text: str) -> bool:
    value = float(text)
    return value not in (float("inf"), float("-inf")) and Decimal(repr(value)) == Decimal(text)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(surveys())
def test_ids_and_numbers_survive_the_cleaning_stage_exactly(case):
    rids, spend = case
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = tmp / "survey.csv"
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, quoting=csv.QUOTE_ALL)
            writer.writerow(["rid", *ITEMS, "spend"])
            for rid, answers, value in zip(rids, _ANSWERS, spend):
                writer.writerow([rid, *map(str, answers), value])
        config = copy.deepcopy(CONFIG)
        config["data"]["path"] = str(path)
        config["cleaning"]["pseudonym_key"] = str(tmp / "pseudonym.key")
        config = validate_config(config)
        present = [v for v in spend if v.strip()]
        numeric = all(_is_number(v) for v in present)
        try:
            check_inputs(config)
        except TrustsegError as exc:
            message = " ".join(str(exc).split())
            if "personal data" in message:  # a 13-19 digit number with a card prefix and a valid Luhn digit
                flagged = {v: personal_in(v) for v in spend if personal_in(v)}
                assert "card numbers" in message and any("card numbers" in kinds for kinds in flagged.values()), \
                    flagged
                return
            inexact = [i + 1 for i, v in enumerate(spend) if v.strip() and not _held(v)]
            assert numeric and inexact, message  # else only a number no float64 holds may stop it
            assert "'spend'" in message and f"data rows {inexact[0]}" in message
            return
        outputs = {name: str(tmp / f"{name}.csv") for name in ("clean", "flagged", "report", "reliability")}
        clean(config, outputs)
        written = read_clean(outputs["clean"])
        expected = rids
        if personal_ids(pd.Series(rids)):
            key = bytes.fromhex((tmp / "pseudonym.key").read_text().strip())
            expected = [hmac.new(key, r.encode(), hashlib.sha256).hexdigest()[:20] for r in rids]
        assert written["respondent_id"].tolist() == expected
        raw_spend = pd.read_csv(outputs["clean"], dtype=str, keep_default_na=False)["spend"].tolist()
        for given_value, out in zip(spend, raw_spend):
            if not given_value.strip():
                assert out == ""
            elif numeric:
                assert Decimal(out) == Decimal(given_value), (given_value, out)
            else:
                assert out == given_value.strip(), (given_value, out)


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
        float(text)
    except Exception:
        return False
    return True

"""The bundled example: a simulated golf-club member survey.

Zhou (2010) segmented golf-club customers by how their repurchase intention
responds to satisfaction.  That survey is not public, so trustseg ships a
simulated survey that follows its design.  Everything here is driven by one
seed, and :func:`write_golf_survey` writes ``golf_survey.csv`` byte for byte the
same on every machine.

Generating model (documented in ``resources/README.md`` too)
------------------------------------------------------------
Each member belongs to one of three segments, drawn from a multinomial logit
on demographics (so profiling has something real to find).  A latent
satisfaction ``s ~ N(4.6, 1.1^2)`` drives the satisfaction items.  Latent
repurchase intention is

* segment 1, satisfaction-driven: ``r = -0.40 + 1.00 s + e``
* segment 2, loyal regardless:    ``r =  6.00 + 0.00 s + e``
* segment 3, indifferent:         ``r =  2.20 + 0.00 s + e``

with ``e ~ N(0, 0.45^2)``.  Latent trust follows the same pattern with its own
lines.  Items are the latent value plus item noise, rounded to the 1-7 scale.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

SCALE = (1, 7)

SATISFACTION_ITEMS = ["sat_course", "sat_greens", "sat_clubhouse", "sat_value", "sat_booking_hassle"]
REVERSED_ITEMS = ["sat_booking_hassle"]  # "Booking a tee time is a hassle": higher = less satisfied
TRUST_ITEMS = ["trust_honest", "trust_reliable", "trust_cares"]
REPURCHASE_ITEMS = ["rep_renew", "rep_play_again", "rep_recommend"]


@dataclass(frozen=True)
class SegmentTruth:
    """Parameters of one true segment."""

    name: str
    repurchase_intercept: float
    repurchase_slope: float
    trust_intercept: float
    trust_slope: float


SEGMENTS = (
    SegmentTruth("Satisfaction-driven", -0.30, 1.00, 0.60, 0.80),
    SegmentTruth("Loyal regardless", 5.50, 0.00, 5.40, 0.05),
    SegmentTruth("Indifferent", 2.50, 0.00, 2.80, 0.05),
)
RESIDUAL_SD = 0.25
ITEM_NOISE_SD = {"satisfaction": 0.45, "trust": 0.50, "repurchase": 0.45}
SATISFACTION_MEAN, SATISFACTION_SD = 4.3, 0.9

# Multinomial logit of membership (segment 1 is the reference):
# loyal-regardless members have played for years and hold full memberships;
# indifferent members are corporate/pay-as-you-go players who play rarely.
MEMBERSHIP_LOGIT = {
    2: {"const": -1.05, "years_playing_per10": 0.55, "Full": 0.90, "Corporate": -0.40, "age_65plus": 0.50},
    3: {"const": 0.55, "rounds_per_month": -0.25, "Full": -0.60, "Corporate": 1.10, "age_65plus": -0.20},
}

N_MEMBERS = 1200
N_DUPLICATES = 6
N_STRAIGHTLINERS = 24
N_SPEEDERS = 12
N_ATTENTION_FAILURES = 15
N_OUT_OF_RANGE = 14
ITEM_SKIP_RATE = 0.02


def _draw_demographics(rng: np.random.Generator, n: int) -> pd.DataFrame:
    gender = rng.choice(["Female", "Male"], size=n, p=[0.32, 0.68])
    age_band = rng.choice(["18-34", "35-49", "50-64", "65+"], size=n, p=[0.18, 0.30, 0.32, 0.20])
    income_band = rng.choice(["<30k", "30-60k", "60-100k", ">100k"], size=n, p=[0.12, 0.33, 0.35, 0.20])
    membership_type = rng.choice(["Full", "Weekday", "Social", "Corporate"], size=n, p=[0.45, 0.25, 0.15, 0.15])
    older = np.isin(age_band, ["50-64", "65+"])
    years_playing = np.clip(np.round(rng.gamma(2.2, 5.0, size=n) + 6 * older), 0, 50).astype(int)
    rounds_per_month = np.clip(rng.poisson(4.0 + 1.5 * (membership_type == "Full")), 0, 20).astype(int)
    return pd.DataFrame(
        {
            "gender": gender,
            "age_band": age_band,
            "income_band": income_band,
            "membership_type": membership_type,
            "years_playing": years_playing,
            "rounds_per_month": rounds_per_month,
        }
    )


def _membership_probabilities(demo: pd.DataFrame) -> np.ndarray:
    covariates = {
        "const": np.ones(len(demo)),
        "years_playing_per10": demo["years_playing"].to_numpy() / 10.0,
        "rounds_per_month": demo["rounds_per_month"].to_numpy(dtype=float),
        "Full": (demo["membership_type"] == "Full").to_numpy(dtype=float),
        "Corporate": (demo["membership_type"] == "Corporate").to_numpy(dtype=float),
        "age_65plus": (demo["age_band"] == "65+").to_numpy(dtype=float),
    }
    eta = np.zeros((len(demo), 3))
    for segment, coefs in MEMBERSHIP_LOGIT.items():
        eta[:, segment - 1] = sum(value * covariates[name] for name, value in coefs.items())
    eta -= eta.max(axis=1, keepdims=True)
    prob = np.exp(eta)
    return prob / prob.sum(axis=1, keepdims=True)


def _items(rng: np.random.Generator, latent: np.ndarray, names: list[str], noise_sd: float) -> pd.DataFrame:
    lo, hi = SCALE
    values = latent[:, None] + rng.normal(0.0, noise_sd, size=(latent.size, len(names)))
    return pd.DataFrame(np.clip(np.rint(values), lo, hi).astype(int), columns=names)


def _comment(rng: np.random.Generator, respondent: int) -> str:
    remarks = [
        "Greens were excellent this season",
        "Clubhouse staff are friendly",
        "Too hard to get a weekend tee time",
        "Fees went up again",
        "Love the course, will be back",
        "Bunkers need work",
        "",
    ]
    text = remarks[rng.integers(len(remarks))]
    if rng.random() < 0.08:
        # personal data the cleaning stage must keep out of results/
        text = f"{text}. Please contact me: member{respondent:04d}@example.com".lstrip(". ")
    return text


def simulate_golf_survey(seed: int = 2010, n_members: int = N_MEMBERS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate the golf-club member survey.

    Parameters
    ----------
    seed : int
        Seed of the whole simulation.
    n_members : int
        Number of distinct members before duplicates are added.

    Returns
    -------
    survey : DataFrame
        The raw survey as a researcher would receive it, including its mess:
        skipped items, out-of-range codes, straight-liners, speeders, failed
        attention checks, duplicate respondent ids and a free-text column that
        sometimes holds e-mail addresses.
    truth : DataFrame
        ``respondent_id``, true ``segment`` (1 satisfaction-driven, 2 loyal
        regardless, 3 indifferent), ``segment_name`` and ``data_quality``
        (``ok`` or the kind of bad answering that was planted).
    """
    rng = np.random.default_rng(seed)
    n = n_members
    demo = _draw_demographics(rng, n)
    prob = _membership_probabilities(demo)
    segment = np.array([rng.choice(3, p=p) for p in prob]) + 1
    ratings = _ratings(rng, segment)
    ratings, attention, duration, quality = _plant_bad_answering(rng, ratings)
    ids = [f"G{i:04d}" for i in range(1, n + 1)]
    survey = pd.concat(
        [
            pd.DataFrame({"respondent_id": ids, "duration_seconds": duration}),
            ratings,
            pd.DataFrame({"attention_check": attention}),
            demo,
            pd.DataFrame({"comment": [_comment(rng, i + 1) for i in range(n)]}),
        ],
        axis=1,
    )
    survey = _add_duplicates(rng, survey)
    truth = pd.DataFrame(
        {
            "respondent_id": ids,
            "segment": segment,
            "segment_name": [SEGMENTS[s - 1].name for s in segment],
            "data_quality": quality,
        }
    )
    return survey, truth


def _ratings(rng: np.random.Generator, segment: np.ndarray) -> pd.DataFrame:
    """The rating items of every member, from the latent scores of the member's segment."""
    n = len(segment)
    satisfaction = rng.normal(SATISFACTION_MEAN, SATISFACTION_SD, size=n)
    pars = [SEGMENTS[s - 1] for s in segment]
    rep_a = np.array([p.repurchase_intercept for p in pars])
    rep_b = np.array([p.repurchase_slope for p in pars])
    tru_a = np.array([p.trust_intercept for p in pars])
    tru_b = np.array([p.trust_slope for p in pars])
    repurchase = rep_a + rep_b * satisfaction + rng.normal(0.0, RESIDUAL_SD, size=n)
    trust = tru_a + tru_b * satisfaction + rng.normal(0.0, RESIDUAL_SD, size=n)

    sat_items = _items(rng, satisfaction, SATISFACTION_ITEMS, ITEM_NOISE_SD["satisfaction"])
    lo, hi = SCALE
    for item in REVERSED_ITEMS:
        sat_items[item] = lo + hi - sat_items[item]
    trust_items = _items(rng, trust, TRUST_ITEMS, ITEM_NOISE_SD["trust"])
    rep_items = _items(rng, repurchase, REPURCHASE_ITEMS, ITEM_NOISE_SD["repurchase"])
    return pd.concat([sat_items, trust_items, rep_items], axis=1).astype("Int64")


def _plant_bad_answering(rng: np.random.Generator, ratings: pd.DataFrame):
    """Straight-liners, speeders, failed attention checks, skipped items and keying slips.

    Returns the ratings, the attention-check answers, the durations and each
    member's ``data_quality``.
    """
    n = len(ratings)
    rating_names = list(ratings.columns)
    # an instructed-response item: "To show you are reading, please answer 5"
    attention = pd.Series(5, index=range(n), dtype="Int64")
    duration = np.round(rng.lognormal(np.log(420), 0.35, size=n)).astype(int)
    quality = np.array(["ok"] * n, dtype=object)

    # Plant bad answering on distinct respondents.
    order = iter(rng.permutation(n))

    def take(count: int) -> list[int]:
        # a small survey runs out of respondents: plant what fits
        return list(itertools.islice(order, count))

    for row in take(N_STRAIGHTLINERS):
        ratings.loc[row, rating_names] = int(rng.choice([1, 4, 7], p=[0.2, 0.4, 0.4]))
        quality[row] = "straightliner"
    for row in take(N_SPEEDERS):
        duration[row] = int(rng.integers(35, 90))
        ratings.loc[row, rating_names] = rng.integers(1, 8, size=len(rating_names))
        quality[row] = "speeder"
    for row in take(N_ATTENTION_FAILURES):
        attention[row] = int(rng.choice([1, 2, 3, 7]))
        quality[row] = "failed_attention_check"

    # Skipped items and out-of-range codes (keying slips: 0, 8, 9) on the rest.
    skip = rng.random(ratings.shape) < ITEM_SKIP_RATE
    ratings = ratings.mask(skip)
    # a rate, not a count: 14 slips in 40 respondents would be a wrong scale, not typing (and stop the run)
    for _ in range(round(N_OUT_OF_RANGE * n / N_MEMBERS)):
        row, col = int(rng.integers(n)), int(rng.integers(len(rating_names)))
        ratings.iloc[row, col] = int(rng.choice([0, 8, 9]))
    return ratings, attention, duration, quality


def _add_duplicates(rng: np.random.Generator, survey: pd.DataFrame) -> pd.DataFrame:
    """Duplicate submissions: the same member sent the form twice.

    The second copy has a slightly different duration and sits right after
    the first, as a web export would list it.
    """
    n = len(survey)
    dup_rows = rng.choice(n, size=N_DUPLICATES, replace=False)
    duplicates = survey.iloc[dup_rows].copy()
    duplicates["duration_seconds"] = duplicates["duration_seconds"] + rng.integers(30, 300, size=N_DUPLICATES)
    survey = pd.concat([survey, duplicates], ignore_index=True)
    return survey.iloc[np.argsort(np.r_[np.arange(n), dup_rows + 0.5], kind="stable")].reset_index(drop=True)


def write_golf_survey(out_dir: str | Path = "resources", seed: int = 2010) -> tuple[Path, Path]:
    """Write ``golf_survey.csv`` and ``golf_survey_truth.csv`` into ``out_dir``.

    The files are identical byte for byte for the same seed: integers are
    written as integers, missing answers as empty fields, and lines end in
    ``\\n``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    survey, truth = simulate_golf_survey(seed)
    survey_path, truth_path = out / "golf_survey.csv", out / "golf_survey_truth.csv"
    survey.to_csv(survey_path, index=False, lineterminator="\n")
    truth.to_csv(truth_path, index=False, lineterminator="\n")
    return survey_path, truth_path

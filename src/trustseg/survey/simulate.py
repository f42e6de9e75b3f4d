"""The bundled example: a simulated golf-club member survey.

Zhou (2010) segmented golf-club customers by how their repurchase intention
responds to satisfaction.  That survey is not public, so trustseg ships a
simulated survey that follows its design.  Everything here is driven by one
seed, and :func:`write_golf_survey` writes ``golf_survey.csv`` byte for byte the
same on every machine.

Generating model (documented in ``resources/README.md`` too)
------------------------------------------------------------
The model is the trust chain, satisfaction -> trust -> repurchase.  Each
member belongs to one of three segments, drawn from a multinomial logit on
demographics (so profiling has something real to find).  A latent
satisfaction ``s ~ N(4.3, 0.9^2)`` drives the satisfaction items.  In each
segment latent trust is a line in ``s`` and latent repurchase a line in ``s``
and trust:

* segment 1, trust-building: ``trust = -0.60 + 0.90 s + e``,
  ``repurchase = 0.65 + 1.10 trust + e`` (repurchase follows trust; no direct
  effect of satisfaction);
* segment 2, loyal regardless: ``trust = 5.60 + e``, ``repurchase = 6.20 + e``;
* segment 3, satisfied without trust: ``trust = 5.10 + e``,
  ``repurchase = 0.00 + 1.00 s + e`` (trust flat, repurchase rises with
  satisfaction directly).

Segments 1 and 3 have practically the same distribution of repurchase given
satisfaction, so the single equation ``repurchase ~ satisfaction`` cannot tell
them apart; trust is flat in segments 2 and 3, only 0.5 apart, so ``trust ~
satisfaction`` cannot tell those apart well; the chain (both equations with
one set of segments) can.  The residual SDs are in :data:`SEGMENTS`.  Items are
the latent value plus item noise, rounded to the 1-7 scale.
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
    """Parameters of one true segment.

    Latent trust is ``trust_intercept + trust_slope * s + e_trust`` with
    ``e_trust ~ N(0, trust_sd^2)``; latent repurchase is
    ``repurchase_intercept + repurchase_slope * s + repurchase_trust_slope *
    trust + e_repurchase`` with ``e_repurchase ~ N(0, repurchase_sd^2)``
    (``repurchase_slope`` is the direct effect of satisfaction, the path
    through trust is ``trust_slope * repurchase_trust_slope``).
    """

    name: str
    trust_intercept: float
    trust_slope: float
    trust_sd: float
    repurchase_intercept: float
    repurchase_slope: float
    repurchase_trust_slope: float
    repurchase_sd: float


# Trust-building and satisfied-without-trust members share one distribution of
# repurchase given satisfaction: the same line (-0.01 + 0.99 s against 0.00 + 1.00 s)
# and the same residual SD (sqrt((1.10 * 0.50)^2 + 0.25^2) = 0.60 against 0.60).
# Satisfied-without-trust and loyal-regardless members both have flat trust, 0.5
# apart.  Only the two equations together tell all three apart.  Trust varies more
# between trust-building members of the same satisfaction (it is still being built),
# which lets the chain see their repurchase follow trust rather than satisfaction.
SEGMENTS = (
    SegmentTruth("Trust-building", -0.60, 0.90, 0.50, 0.65, 0.00, 1.10, 0.25),
    SegmentTruth("Loyal regardless", 5.60, 0.00, 0.25, 6.20, 0.00, 0.00, 0.25),
    SegmentTruth("Satisfied without trust", 5.10, 0.00, 0.25, 0.00, 1.00, 0.00, 0.60),
)
ITEM_NOISE_SD = {"satisfaction": 0.45, "trust": 0.50, "repurchase": 0.45}
SATISFACTION_MEAN, SATISFACTION_SD = 4.3, 0.9

# Multinomial logit of membership (segment 1 is the reference):
# loyal-regardless members have played for years and hold full memberships;
# satisfied-without-trust members are corporate players and members who play
# less often: they come for the course, not for the club.
MEMBERSHIP_LOGIT = {
    2: {"const": -1.30, "years_playing_per10": 0.55, "Full": 0.90, "Corporate": -0.40, "age_65plus": 0.50},
    3: {"const": 1.10, "rounds_per_month": -0.25, "Full": -0.60, "Corporate": 1.10, "age_65plus": -0.20},
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
    eta = np.zeros((len(demo), len(SEGMENTS)))
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
        ``respondent_id``, true ``segment`` (1 trust-building, 2 loyal
        regardless, 3 satisfied without trust), ``segment_name``,
        ``data_quality`` (``ok`` or the kind of bad answering that was
        planted) and the member's latent scores ``satisfaction_latent``,
        ``trust_latent`` and ``repurchase_latent`` (before item noise and
        before any bad answering, to three decimals).
    """
    rng = np.random.default_rng(seed)
    n = n_members
    demo = _draw_demographics(rng, n)
    prob = _membership_probabilities(demo)
    segment = np.array([rng.choice(len(SEGMENTS), p=p) for p in prob]) + 1
    ratings, latent = _ratings(rng, segment)
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
    truth = pd.concat([truth, latent.round(3)], axis=1)
    return survey, truth


def _ratings(rng: np.random.Generator, segment: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rating items of every member, from the latent scores of the member's segment.

    Returns the items and the latent scores (``satisfaction_latent``,
    ``trust_latent``, ``repurchase_latent``).
    """
    n = len(segment)
    satisfaction = rng.normal(SATISFACTION_MEAN, SATISFACTION_SD, size=n)
    pars = [SEGMENTS[s - 1] for s in segment]

    def par(name: str) -> np.ndarray:
        return np.array([getattr(p, name) for p in pars])

    # the repurchase residuals are drawn before the trust residuals (the order of the draws fixes the stream)
    rep_e = rng.normal(0.0, par("repurchase_sd"), size=n)
    trust_e = rng.normal(0.0, par("trust_sd"), size=n)
    trust = par("trust_intercept") + par("trust_slope") * satisfaction + trust_e
    repurchase = (
        par("repurchase_intercept")
        + par("repurchase_slope") * satisfaction
        + par("repurchase_trust_slope") * trust
        + rep_e
    )

    sat_items = _items(rng, satisfaction, SATISFACTION_ITEMS, ITEM_NOISE_SD["satisfaction"])
    lo, hi = SCALE
    for item in REVERSED_ITEMS:
        sat_items[item] = lo + hi - sat_items[item]
    trust_items = _items(rng, trust, TRUST_ITEMS, ITEM_NOISE_SD["trust"])
    rep_items = _items(rng, repurchase, REPURCHASE_ITEMS, ITEM_NOISE_SD["repurchase"])
    latent = pd.DataFrame({"satisfaction_latent": satisfaction, "trust_latent": trust, "repurchase_latent": repurchase})
    return pd.concat([sat_items, trust_items, rep_items], axis=1).astype("Int64"), latent


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

"""The set-aside group in the workflow's stages: chosen by select_k, saved, and read by every later stage.

The data are the `pile` survey of ``test_set_aside`` (two segments, slopes
0.8 and 0.25, and a quarter of the respondents answering 4 whatever their
satisfaction), run through the stage functions as the workflow's rules call them.
"""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from test_set_aside import SLOPES, estimator, survey

from trustseg.model.persistence import model_from_dict, model_to_dict
from trustseg.model.selection import choose_with_set_aside
from trustseg.model.set_aside import SetAsideRegression, set_aside_candidates
from trustseg.stages import common, evidence
from trustseg.stages import fit as fit_stage
from trustseg.stages.fits import load_model

SETTINGS = {"outcome": "repurchase", "predictors": ["satisfaction"], "weight_column": None}
FAMILY = {"name": "censored", "options": {"lower": 1.0, "upper": 7.0}}


@pytest.fixture(scope="module")
def pile_run(tmp_path_factory):
    """clean.csv of the pile survey, its fits for K = 1..3 and select_k's outputs with set_aside on."""
    base = tmp_path_factory.mktemp("pile")
    X, y, group = survey(seed=5)
    rng = np.random.default_rng(1)
    clean = pd.DataFrame({"respondent_id": [f"r{i}" for i in range(len(y))], "satisfaction": X["satisfaction"],
                          "repurchase": y, "region": rng.choice(["north", "south"], len(y))})
    clean.to_csv(base / "clean.csv", index=False)
    fits = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for k in (1, 2, 3):
            fits.append(str(base / f"k{k}.json"))
            fit_stage.fit_k(str(base / "clean.csv"), "pile", k, fits[-1], focal="satisfaction", method="em",
                            n_init=6, min_share=0.03, seed=3, rounding_variance=1 / 36, family=FAMILY, **SETTINGS)
        fit_stage.select_k(str(base / "clean.csv"), "pile", fits, str(base / "criteria.csv"), str(base / "s.csv"),
                           criterion="bic", set_aside=True, set_aside_fit_out=str(base / "set_aside.json"),
                           set_aside_table_out=str(base / "set_aside_fits.csv"), **SETTINGS)
    return base, group


def test_select_k_chooses_two_segments_beside_the_pile_and_saves_that_fit(pile_run):
    base, _ = pile_run
    table = pd.read_csv(base / "criteria.csv", keep_default_na=False)
    assert len(table) == 3  # still one row per K: the group's fits have their own table
    chosen = table.loc[table["chosen"]].iloc[0]
    assert chosen["k_requested"] == 2 and str(chosen["set_aside_answers"]) == "4"
    assert chosen["choice_note"].startswith("K = 2 with a set-aside group has the lowest BIC (")
    assert "at the answer 4, whose answers depend on no predictor" in chosen["choice_note"]
    rows = pd.read_csv(base / "set_aside_fits.csv", keep_default_na=False)
    assert rows["chosen"].sum() == 1 and rows.loc[rows["chosen"], "bic"].iloc[0] < table["bic"].min()
    # the workflow's chosen_fit reads the group's fit, not k2.json
    assert common.chosen_fit_path(base / "criteria.csv", "pile") == "results/pile/fits/set_aside.json"
    fit = load_model(base / "set_aside.json")
    assert isinstance(fit, SetAsideRegression) and fit.model_.n_segments_ == 2
    np.testing.assert_allclose(np.sort(fit.model_.coef_[:, 0])[::-1], SLOPES, atol=0.15)


def test_a_saved_set_aside_fit_predicts_and_infers_as_the_original():
    X, y, _ = survey(seed=13)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fit = SetAsideRegression(estimator(), [4.0]).fit(X, y)
    loaded = model_from_dict(json.loads(json.dumps(model_to_dict(fit))))
    np.testing.assert_allclose(loaded.predict_proba(X, y), fit.predict_proba(X, y), rtol=1e-10)
    np.testing.assert_allclose(loaded.inference(X, y).params["std_error"], fit.inference(X, y).params["std_error"],
                               rtol=1e-8)
    assert loaded.bic() == pytest.approx(fit.bic(), rel=1e-12)


def test_the_later_stages_read_the_segments_and_keep_the_group_apart(pile_run, caplog):
    from trustseg.stages import profiles as profiles_stage
    from trustseg.stages import segments as segments_stage
    from trustseg.stages.figures import segment_figures

    base, group = pile_run
    keys = ("segments", "tests", "assignments", "classification", "summary", "covariance", "fitted_lines",
            "residual_spread")
    out = {key: str(base / ("summary.txt" if key == "summary" else f"{key}.csv")) for key in keys}
    segments_stage.segments(str(base / "clean.csv"), "pile", str(base / "set_aside.json"), out, focal="satisfaction",
                            cov_type="robust", alpha=0.05, equivalence_margin=0.1, scale=[1, 7], **SETTINGS)
    assignments = pd.read_csv(out["assignments"])
    assert {"posterior_1", "posterior_2", common.SET_ASIDE_COLUMN} <= set(assignments.columns)
    aside = assignments[common.SET_ASIDE_COLUMN].to_numpy() > 0.5
    assert aside[group == 2].mean() > 0.9 and aside[group != 2].mean() < 0.15
    table = pd.read_csv(out["segments"])
    assert table.groupby("segment")["n_assigned"].first().sum() == (~aside).sum()  # members are those not set aside
    summary = (base / "summary.txt").read_text()
    assert "Set aside" in summary and "segments and set-aside group" in summary and "observed information" in summary

    chunk = base / "chunk0.csv"
    evidence.bootstrap_chunk(str(base / "clean.csv"), "pile", str(base / "set_aside.json"), 0, str(chunk),
                             replicates=2, n_chunks=1, n_init=2, seed=4, **SETTINGS)
    refits = pd.read_csv(chunk)
    assert set(refits["replicate"]) == {0, 1} and refits["segment"].max() == 2

    profile_out = {"profiles": str(base / "profiles.csv"), "membership": str(base / "membership.csv")}
    profiles_stage.profiles(str(base / "clean.csv"), out["assignments"], "pile", profile_out, variables=["region"],
                            seed=1, **SETTINGS)
    assert pd.read_csv(base / "profiles.csv")["n"].sum() <= (~aside).sum()

    fit_stage_table = base / "criteria.csv"
    evidence.model_selection(str(fit_stage_table), [], "pile", str(base / "model_selection.csv"), criterion="bic")
    inputs = {key: out[key] for key in ("segments", "assignments", "fitted_lines")}
    inputs["model_selection"] = str(base / "model_selection.csv")
    segment_figures(str(base / "clean.csv"), "pile", inputs, str(base / "figures"), focal="satisfaction", alpha=0.05,
                    equivalence_margin=0.1, constructs={}, formats=[], seed=1, **SETTINGS)
    captions = json.loads((base / "figures" / "captions_segments.json").read_text())
    assert "Grey crosses: the respondents more likely in the set-aside group" in json.dumps(captions)


@pytest.fixture()
def clean_fit():
    """A two-segment fit of the survey without a planted group: data and model, its set-aside records to be set."""
    X, y, _ = survey(planted=0.0, seed=11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return X, y, estimator(2).fit(X, y)


def test_a_marginal_spurious_solution_offers_no_group(clean_fit):
    """A floor segment that beat the kept solution by less than BIC charges for a group is no evidence of a pile."""
    X, y, model = clean_fit
    flaws = [{"one_answer": {"value": 5.0, "members": 30.0}}, {}]
    penalty = 0.5 * np.log(model.n_obs_) * 2  # a mass and a location inside the scale
    model.set_aside_ = [{"loglik": model.loglik_ + 0.9 * penalty, "weights": [0.1, 0.9], "flaws": flaws}]
    assert set_aside_candidates([model], X, y) == []
    model.set_aside_ = [{"loglik": model.loglik_ + 1.1 * penalty, "weights": [0.1, 0.9], "flaws": flaws}]
    assert set_aside_candidates([model], X, y) == [(5.0,)]


def test_without_set_aside_rows_the_plain_choice_stands():
    table = pd.DataFrame({"k": [1, 2], "k_fitted": [1, 2], "bic": [10.0, 8.0], "problems": ["", ""],
                          "chosen": [False, True], "choice_note": ["", ""]})
    plain, aside = choose_with_set_aside(table, pd.DataFrame(columns=["k", "set_aside_answers"]))
    assert plain["chosen"].tolist() == [False, True] and (plain["set_aside_group"] == "").all()
    assert aside.empty


def test_a_set_aside_row_wins_only_with_the_lowest_criterion_and_its_note_says_what_it_beat():
    table = pd.DataFrame({"k": [1, 2], "k_fitted": [1, 2], "bic": [10.0, 8.0], "problems": ["", ""],
                          "chosen": [False, True], "choice_note": ["", ""]})
    aside = pd.DataFrame({"k": [1], "k_fitted": [1], "bic": [9.0], "problems": [""], "set_aside_answers": [(4.0,)],
                          "set_aside_group": ["30 respondents (10%) at the answer 4, ..."]})
    plain, marked = choose_with_set_aside(table, aside)
    assert plain["chosen"].tolist() == [False, True] and not marked["chosen"].any()
    plain, marked = choose_with_set_aside(table, aside.assign(bic=7.0))
    assert plain["chosen"].tolist() == [True, False] and marked["chosen"].tolist() == [True]
    assert plain.loc[0, "set_aside_answers"] == "4" and plain.loc[0, "set_aside_group"].startswith("30 respondents")
    assert plain.loc[0, "choice_note"] == marked.loc[0, "choice_note"] == (
        "K = 1 with a set-aside group has the lowest BIC (7.0, against 8.0 for K = 2 without one): "
        "30 respondents (10%) at the answer 4, ....")


def test_a_group_that_cannot_be_fitted_is_not_offered_and_the_run_goes_on(monkeypatch):
    from trustseg.model import set_aside

    X, y, _ = survey(seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model = estimator(2).fit(X, y)

    def refuse(self, *args, **kwargs):
        raise np.linalg.LinAlgError("singular matrix")

    monkeypatch.setattr(set_aside.SetAsideRegression, "fit", refuse)
    with pytest.warns(RuntimeWarning, match="K = 2 beside a set-aside group at the answer 4 could not be fitted"):
        assert set_aside.fit_set_aside([model], X, y, candidates=[(4.0,)]) == {}


def test_one_end_of_a_censored_scale_is_never_offered_alone_but_both_ends_are(clean_fit):
    """Censoring gives every segment a mass at each end; only a group at both ends is more than that."""
    X, y, model = clean_fit
    top = [{"one_answer": {"value": 7.0, "members": 30.0}}, {}]
    model.set_aside_ = [{"loglik": model.loglik_ + 50.0, "weights": [0.1, 0.9], "flaws": top}]
    assert set_aside_candidates([model], X, y) == []
    ends = [{"two_ends": {"members": 30.0}}, {}]
    model.set_aside_ = [{"loglik": model.loglik_ + 50.0, "weights": [0.1, 0.9], "flaws": ends}]
    assert set_aside_candidates([model], X, y) == [(1.0, 7.0)]

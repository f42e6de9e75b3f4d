"""Coefficients corrected for measurement error (issue 27): lavaan's numbers, recovery, the edges."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trustseg.model.chain import ChainRegression
from trustseg.model.effects import chain_effects
from trustseg.model.measurement import (
    LatentCoefficients,
    error_variance,
    error_variance_sampling_variance,
    latent_coefficients,
)
from trustseg.model.mixture import ClusterwiseRegression

DATA = Path(__file__).parent / "data"
GOLF = Path(__file__).parent.parent / "resources" / "golf_survey.csv"
CHAIN = [("trust", ["satisfaction"]), ("repurchase", ["satisfaction", "trust"])]


def golf_scores() -> pd.DataFrame:
    """The scores lavaan saw (tests/data/measurement_reference.R): complete item rows, booking hassle reversed."""
    items = {"satisfaction": ["sat_course", "sat_greens", "sat_clubhouse", "sat_value", "sat_booking_hassle"],
             "trust": ["trust_honest", "trust_reliable", "trust_cares"],
             "repurchase": ["rep_renew", "rep_play_again", "rep_recommend"]}
    survey = pd.read_csv(GOLF).dropna(subset=[i for block in items.values() for i in block])
    survey["sat_booking_hassle"] = 8 - survey["sat_booking_hassle"]
    return pd.DataFrame({c: survey[cols].mean(axis=1) for c, cols in items.items()}).reset_index(drop=True)


def corrected(model, X, y=None, error_variances=None, variances=None):
    inference = model.inference(X, y)
    posteriors = model.predict_proba(X, y)
    frame = X if y is None else X.assign(**{model.outcome_name_: np.asarray(y)})
    return latent_coefficients(model, frame, posteriors, inference.cov, error_variances or {}, variances), inference


@pytest.fixture(scope="module")
def reference():
    return json.loads((DATA / "measurement_reference.json").read_text())


def test_one_segment_equals_lavaan_single_equation(reference):
    X = golf_scores()
    assert len(X) == reference["n"]
    model = ClusterwiseRegression(n_segments=1, n_init=1).fit(X[["satisfaction"]], X["trust"])
    latent, _ = corrected(model, X[["satisfaction"]], X["trust"], reference["theta"])
    row = latent.frame().set_index("term").loc["satisfaction"]
    expected = reference["single"]["Ft ~ Fs"]
    assert row["latent_estimate"] == pytest.approx(expected["estimate"], rel=0.01)
    assert row["latent_std_error"] == pytest.approx(expected["std_error"], rel=0.05)
    assert model.coef_[0, 0] < 0.95 * expected["estimate"]  # the observed slope is attenuated


def test_one_segment_chain_equals_lavaan_paths_and_indirect_effect(reference):
    X = golf_scores()
    model = ChainRegression(CHAIN, n_segments=1, n_init=1).fit(X)
    latent, _ = corrected(model, X, None, reference["theta"])
    effects = chain_effects(model.equations_, "satisfaction", latent.terms, latent.param_names, latent.estimate,
                            latent.cov).set_index(["kind", "path"])
    pairs = {"Ft ~ Fs": ("path", "satisfaction → trust"), "Fr ~ Fs": ("path", "satisfaction → repurchase"),
             "Fr ~ Ft": ("path", "trust → repurchase"), "indirect": ("indirect", "satisfaction → trust → repurchase")}
    for lavaan_name, key in pairs.items():
        expected = reference["chain"][lavaan_name]
        assert effects.loc[key, "estimate"] == pytest.approx(expected["estimate"], rel=0.01), lavaan_name
        assert effects.loc[key, "std_error"] == pytest.approx(expected["std_error"], rel=0.05), lavaan_name


def simulate_segments(n, reliability, rng, slopes=(0.9, 0.0), n_items=4):
    """Two equal segments; the construct N(4, 1), each of ``n_items`` items the construct plus noise."""
    xi = rng.normal(4.0, 1.0, n)
    noise_sd = np.sqrt(n_items * (1 - reliability) / reliability)
    items = xi[:, None] + rng.normal(0.0, noise_sd, (n, n_items))
    segment = rng.integers(0, 2, n)
    intercepts = np.array([0.5, 5.0])
    y = intercepts[segment] + np.asarray(slopes)[segment] * xi + rng.normal(0.0, 0.4, n)
    return pd.DataFrame(items, columns=[f"item{i}" for i in range(n_items)]), items.mean(axis=1), y


def cronbach(items: pd.DataFrame) -> float:
    k = items.shape[1]
    return k / (k - 1) * (1 - items.var(ddof=1).sum() / items.sum(axis=1).var(ddof=1))


def test_two_segments_recover_the_construct_slopes_the_scores_attenuate():
    rng = np.random.default_rng(7)
    items, score, y = simulate_segments(4000, 0.7, rng)
    X = pd.DataFrame({"satisfaction": score})
    model = ClusterwiseRegression(n_segments=2, n_init=5, random_state=1).fit(X, y)
    alpha = cronbach(items)
    theta = error_variance(alpha, score.var(ddof=1))
    latent, inference = corrected(model, X, y, {"satisfaction": theta},
                                  {"satisfaction": error_variance_sampling_variance(theta, 4, 4000)})
    slopes = latent.frame().query("term == 'satisfaction'").set_index("segment")
    observed = model.coef_[:, 0]
    assert observed[0] < 0.8  # the driven segment's observed slope is attenuated well below 0.9
    assert abs(slopes.loc[1, "latent_estimate"] - 0.9) < 2.5 * slopes.loc[1, "latent_std_error"]
    assert abs(slopes.loc[1, "latent_estimate"] - 0.9) < abs(observed[0] - 0.9) / 3
    assert abs(slopes.loc[2, "latent_estimate"]) < 2.5 * slopes.loc[2, "latent_std_error"]
    # the correction widens the interval: the observed coefficient's error is carried and amplified
    observed_se = inference.params.query("term == 'satisfaction'")["std_error"].to_numpy()
    assert (slopes["latent_std_error"].to_numpy() > observed_se).all()


def test_no_error_variance_leaves_the_observed_coefficients_and_errors():
    X = golf_scores()
    model = ClusterwiseRegression(n_segments=2, n_init=3, random_state=0).fit(X[["satisfaction"]], X["trust"])
    latent, inference = corrected(model, X[["satisfaction"]], X["trust"], {"satisfaction": 0.0})
    frame = latent.frame()
    np.testing.assert_allclose(frame["latent_estimate"], inference.params["estimate"], rtol=1e-10)
    np.testing.assert_allclose(frame["latent_std_error"], inference.params["std_error"], rtol=1e-8)
    assert latent.segment_reliability.empty


def test_reliability_uncertainty_widens_the_intervals(reference):
    X = golf_scores()
    model = ClusterwiseRegression(n_segments=1, n_init=1).fit(X[["satisfaction"]], X["trust"])
    theta = reference["theta"]["satisfaction"]
    known, _ = corrected(model, X[["satisfaction"]], X["trust"], {"satisfaction": theta})
    uncertain, _ = corrected(model, X[["satisfaction"]], X["trust"], {"satisfaction": theta},
                             {"satisfaction": (0.3 * theta) ** 2})
    # the slope moves by slope / (var(x) - theta) per unit of theta (one predictor): that variance adds
    slope, spread = known.estimate[0, 1], float(X["satisfaction"].var(ddof=0)) - theta
    added = (slope / spread * 0.3 * theta) ** 2
    assert uncertain.std_errors()[0, 1] ** 2 == pytest.approx(known.std_errors()[0, 1] ** 2 + added, rel=0.01)
    np.testing.assert_allclose(uncertain.estimate, known.estimate)


def test_a_segment_whose_score_varies_less_than_its_error_is_not_corrected():
    X = golf_scores()
    model = ClusterwiseRegression(n_segments=1, n_init=1).fit(X[["satisfaction"]], X["trust"])
    too_large = 0.95 * float(X["satisfaction"].var(ddof=0))
    latent, _ = corrected(model, X[["satisfaction"]], X["trust"], {"satisfaction": too_large})
    assert np.isnan(latent.estimate).all() and np.isnan(latent.std_errors()).all()
    assert not latent.segment_reliability["corrected"].any()
    assert latent.segment_reliability["within_reliability"].iloc[0] == pytest.approx(0.05, abs=1e-6)


def test_only_normal_families_are_corrected():
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"satisfaction": rng.normal(4, 1, 300)})
    y = (rng.random(300) < 1 / (1 + np.exp(-(X["satisfaction"] - 4)))).astype(float)
    model = ClusterwiseRegression(n_segments=1, n_init=1, family="binomial").fit(X, y)
    with pytest.raises(ValueError, match="normal family"):
        latent_coefficients(model, X, np.ones((300, 1)), np.eye(len(model.param_names_)), {"satisfaction": 0.1})


def test_censored_outcome_slopes_are_corrected_too():
    rng = np.random.default_rng(11)
    n = 3000
    xi = rng.normal(4.0, 1.0, n)
    score = xi + rng.normal(0.0, np.sqrt(0.25), n)  # reliability 0.8
    y = np.clip(1.0 + 0.8 * xi + rng.normal(0.0, 0.6, n), 1.0, 7.0)
    X = pd.DataFrame({"satisfaction": score})
    model = ClusterwiseRegression(n_segments=1, n_init=1, family="censored",
                                  family_options={"lower": 1, "upper": 7}).fit(X, y)
    latent, _ = corrected(model, X, y, {"satisfaction": 0.25})
    slope, se = latent.estimate[0, 1], latent.std_errors()[0, 1]
    assert model.coef_[0, 0] < 0.7
    assert abs(slope - 0.8) < 3 * se


def test_error_variance_sampling_variance_matches_simulation():
    rng = np.random.default_rng(5)
    n, k, item_error_sd = 200, 4, 1.2
    estimates = []
    for _ in range(400):
        items = pd.DataFrame(rng.normal(0, 1, n)[:, None] + rng.normal(0, item_error_sd, (n, k)))
        estimates.append(error_variance(cronbach(items), items.mean(axis=1).var(ddof=1)))
    theta = item_error_sd ** 2 / k
    assert np.mean(estimates) == pytest.approx(theta, rel=0.02)
    assert np.var(estimates) == pytest.approx(error_variance_sampling_variance(theta, k, n), rel=0.2)
    assert np.isnan(error_variance_sampling_variance(0.3, 1, n))


def test_latent_coefficients_frame_shape():
    latent = LatentCoefficients(["(Intercept)", "x"], np.array([[1.0, 2.0]]), np.diag([0.04, 0.01]),
                                ["1:(Intercept)", "1:x"], pd.DataFrame())
    frame = latent.frame()
    assert list(frame.columns) == ["segment", "term", "latent_estimate", "latent_std_error", "corrected"]
    np.testing.assert_allclose(frame["latent_std_error"], [0.2, 0.1])


# -- the segments stage: latent_* columns in segments.csv and effects.csv ------------------------------------------

STAGE_OUTPUTS = ("segments", "tests", "assignments", "classification", "summary", "covariance", "fitted_lines",
                 "residual_spread")


@pytest.fixture(scope="module")
def chain_run(tmp_path_factory):
    """A two-segment chain fitted to the golf scores, its clean data and reliability table as the stages read them."""
    from trustseg.model.persistence import model_to_dict
    from trustseg.survey.reliability import reliability_table

    folder = tmp_path_factory.mktemp("measurement_stage")
    survey = pd.read_csv(GOLF)
    survey["sat_booking_hassle"] = 8 - survey["sat_booking_hassle"]
    constructs = {"satisfaction": {"items": ["sat_course", "sat_greens", "sat_clubhouse", "sat_value",
                                             "sat_booking_hassle"]},
                  "trust": {"items": ["trust_honest", "trust_reliable", "trust_cares"]},
                  "repurchase": {"items": ["rep_renew", "rep_play_again", "rep_recommend"]},
                  "rounds": {"items": ["rounds_per_month"]}}
    reliability_table(survey, constructs).to_csv(folder / "reliability.csv", index=False)
    clean = golf_scores().assign(respondent_id=[f"R{i}" for i in range(990)])
    clean.to_csv(folder / "clean.csv", index=False)
    model = ChainRegression(CHAIN, n_segments=2, n_init=4, random_state=0).fit(clean[["satisfaction", "trust",
                                                                                       "repurchase"]])
    (folder / "fit.json").write_text(json.dumps({"model": model_to_dict(model)}))
    return folder


def _stage_settings(folder):
    return dict(clean_path=str(folder / "clean.csv"), name="chain", fit_path=str(folder / "fit.json"),
                equations=CHAIN, cov_type="oim", alpha=0.05, equivalence_margin=0.1, weight_column=None,
                measurement_error="correct", reliability_path=str(folder / "reliability.csv"))


def test_chain_stage_writes_latent_columns_beside_the_observed(chain_run):
    from trustseg.stages.segments import chain_effects as effects_stage
    from trustseg.stages.segments import chain_segments

    folder = chain_run
    outputs = {key: str(folder / f"{key}.{'txt' if key == 'summary' else 'csv'}") for key in STAGE_OUTPUTS}
    settings = _stage_settings(folder)
    chain_segments(outputs=outputs, focal="satisfaction", **settings)
    effects_stage(segments_path=outputs["segments"], output=str(folder / "effects.csv"), **settings)
    table = pd.read_csv(outputs["segments"], keep_default_na=False)
    for column in ("latent_estimate", "latent_std_error", "latent_ci_low", "latent_ci_high", "latent_verdict"):
        assert column in table
    slopes = table.loc[table["term"] != "(Intercept)"]
    assert (slopes["latent_verdict"] != "").all()
    effects = pd.read_csv(folder / "effects.csv", keep_default_na=False)
    mediated = effects.loc[effects["path"] == "trust → repurchase"]
    # the two stages agree: each path's corrected slope in effects.csv is its coefficient in segments.csv
    in_table = slopes.loc[(slopes["equation"] == "repurchase") & (slopes["term"] == "trust")]
    np.testing.assert_allclose(mediated["latent_estimate"].astype(float), in_table["latent_estimate"].astype(float))
    np.testing.assert_allclose(mediated["latent_std_error"].astype(float),
                               in_table["latent_std_error"].astype(float))
    assert not np.allclose(mediated["latent_estimate"].astype(float), mediated["estimate"].astype(float))
    indirect = effects.loc[effects["kind"] == "indirect"]
    products = (effects.loc[effects["path"] == "satisfaction → trust"].set_index("segment")["latent_estimate"]
                .astype(float) * mediated.set_index("segment")["latent_estimate"].astype(float))
    np.testing.assert_allclose(indirect.set_index("segment")["latent_estimate"].astype(float), products)


def test_ignore_leaves_the_tables_as_they_were(chain_run):
    from trustseg.stages.segments import chain_segments

    folder = chain_run / "ignored"
    folder.mkdir(exist_ok=True)
    outputs = {key: str(folder / f"{key}.{'txt' if key == 'summary' else 'csv'}") for key in STAGE_OUTPUTS}
    chain_segments(outputs=outputs, focal="satisfaction", **{**_stage_settings(chain_run),
                                                             "measurement_error": "ignore"})
    assert "latent_estimate" not in pd.read_csv(outputs["segments"])


def test_one_item_and_low_reliability_constructs_are_warned_about(chain_run, caplog):
    from trustseg.stages.measurement import construct_error_variances

    data = pd.DataFrame({"rounds": [1.0, 2.0, 3.0, 5.0], "satisfaction": [2.0, 3.0, 5.0, 6.0]})
    reliability = pd.read_csv(chain_run / "reliability.csv")
    construct = reliability["level"] == "construct"
    reliability.loc[construct & (reliability["construct"] == "satisfaction"), "alpha"] = 0.6
    path = chain_run / "low.csv"
    reliability.to_csv(path, index=False)
    with caplog.at_level("WARNING", logger="trustseg"):
        variances, _ = construct_error_variances(str(path), data, ["rounds", "satisfaction", "age"], "demo")
    assert set(variances) == {"satisfaction"}
    assert variances["satisfaction"] == pytest.approx(0.4 * data["satisfaction"].var(ddof=1))
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "rounds has one item" in said and "satisfaction has a low reliability" in said


def test_a_coefficient_without_a_variance_leaves_only_its_own_equation_without_errors(reference):
    X = golf_scores()
    model = ChainRegression(CHAIN, n_segments=1, n_init=1).fit(X)
    inference = model.inference(X)
    cov = np.array(inference.cov, dtype=float)
    lost = model.param_names_.index("1:repurchase~trust")
    cov[lost, :] = cov[:, lost] = np.nan
    latent = latent_coefficients(model, X, model.predict_proba(X), cov, reference["theta"])
    errors = dict(zip(latent.terms, latent.std_errors()[0]))
    assert np.isnan(errors["repurchase~trust"]) and np.isnan(errors["repurchase~satisfaction"])
    assert errors["trust~satisfaction"] == pytest.approx(reference["chain"]["Ft ~ Fs"]["std_error"], rel=0.05)


def test_constructs_nearly_collinear_once_corrected_are_noted():
    rng = np.random.default_rng(9)
    n = 2000
    image = rng.normal(5, 1, n)
    satisfaction = image + rng.normal(0, 0.2, n)  # the constructs correlate 0.98
    X = pd.DataFrame({"image": image + rng.normal(0, 0.5, n), "satisfaction": satisfaction + rng.normal(0, 0.5, n)})
    y = 1 + 0.5 * image + 0.5 * satisfaction + rng.normal(0, 0.5, n)
    model = ClusterwiseRegression(n_segments=1, n_init=1).fit(X, y)
    latent, _ = corrected(model, X, y, {"image": 0.25, "satisfaction": 0.25})
    assert any("image and satisfaction correlate 0.9" in note for note in latent.notes)
    assert (latent.std_errors()[0, 1:] > 3 * model.inference(X, y).params["std_error"].to_numpy()[1:]).all()
    # errors claiming more than the scores share: not positive definite, not corrected
    refused, _ = corrected(model, X, y, {"image": 0.6, "satisfaction": 0.6})
    assert np.isnan(refused.estimate).all() and any("not positive definite" in note for note in refused.notes)


def test_the_warnings_say_where_the_correction_changes_a_verdict_or_was_refused():
    from trustseg.report.warnings_report import measurement_error_sentences

    segments = pd.DataFrame({
        "segment": [1, 1, 2, 2], "equation": ["repurchase", "repurchase", "repurchase", "repurchase"],
        "term": ["satisfaction", "trust", "satisfaction", "trust"],
        "verdict": ["drives_up", "drives_up", "drives_up", "inconclusive"],
        "latent_verdict": ["inconclusive", "drives_up", np.nan, np.nan]})
    said = measurement_error_sentences(segments, {1: "Trust-building", 2: "Loyal"})
    assert said[0].startswith("segment 1 (Trust-building): the path satisfaction → repurchase is 'drives_up' for "
                              "the scores but 'inconclusive' for the constructs")
    assert len(said) == 2 and "segment 2 (Loyal): the scores vary too little" in said[1]
    assert measurement_error_sentences(segments.drop(columns="latent_verdict"), {}) == []


def test_a_refused_segment_leaves_the_other_segments_effects_their_errors():
    X = golf_scores()
    model = ChainRegression(CHAIN, n_segments=2, n_init=3, random_state=0).fit(X)
    inference = model.inference(X)
    posteriors = model.predict_proba(X)
    # an error variance between the two segments' variances of trust: one segment is refused, the other corrected
    within = [np.cov(X["trust"], aweights=posteriors[:, j]) for j in range(2)]
    latent = latent_coefficients(model, X, posteriors, inference.cov, {"trust": float(np.mean(within))})
    refused = ~latent.segment_reliability.groupby("segment")["corrected"].all()
    assert refused.sum() == 1
    effects = chain_effects(model.equations_, "satisfaction", latent.terms, latent.param_names, latent.estimate,
                            latent.cov)
    kept = effects.loc[effects["segment"] == int(refused.idxmin())]
    assert kept["std_error"].notna().all() and (kept["std_error"] > 0).all()
    lost = effects.loc[effects["segment"] == int(refused.idxmax())]
    assert lost.loc[lost["kind"] != "path", "estimate"].isna().all()


# -- issue 27: the verdicts, names, sentences and figures read the corrected slopes --------------------------------

SINGLE_OUTPUTS = STAGE_OUTPUTS


@pytest.fixture(scope="module")
def attenuated_run(tmp_path_factory):
    """One segment whose construct moves the outcome (0.12) but whose noisy score (reliability 0.5) shows it flat.

    The scores' slope (about 0.06, tight) is shown within the ±0.1 margin
    (negligible); the construct's (0.12) is shown to drive.
    """
    from trustseg.model.persistence import model_to_dict
    from trustseg.survey.reliability import reliability_table

    folder = tmp_path_factory.mktemp("attenuated")
    rng = np.random.default_rng(27)
    n = 3000
    construct = rng.normal(4.0, 1.0, n)
    items = pd.DataFrame({f"sat_{i}": construct + rng.normal(0, 2.0, n) for i in range(4)})  # error var 1 on the mean
    score = items.mean(axis=1)
    loyalty = 3.0 + 0.12 * construct + rng.normal(0, 0.4, n)
    reliability_table(items, {"satisfaction": {"items": list(items.columns)}}).to_csv(folder / "reliability.csv",
                                                                                      index=False)
    clean = pd.DataFrame({"respondent_id": [f"R{i}" for i in range(n)], "satisfaction": score, "loyalty": loyalty})
    clean.to_csv(folder / "clean.csv", index=False)
    model = ClusterwiseRegression(n_segments=1, n_init=1, random_state=0).fit(clean[["satisfaction"]],
                                                                              clean["loyalty"])
    (folder / "fit.json").write_text(json.dumps({"model": model_to_dict(model)}))
    return folder


def _single_stage(folder, measurement_error):
    from trustseg.stages.segments import segments

    out = folder / measurement_error
    out.mkdir(exist_ok=True)
    outputs = {key: str(out / f"{key}.{'txt' if key == 'summary' else 'csv'}") for key in SINGLE_OUTPUTS}
    segments(str(folder / "clean.csv"), "single", str(folder / "fit.json"), outputs, outcome="loyalty",
             predictors=["satisfaction"], focal="satisfaction", cov_type="oim", alpha=0.05, equivalence_margin=0.1,
             weight_column=None, scale=(1, 7), measurement_error=measurement_error,
             reliability_path=str(folder / "reliability.csv"))
    return pd.read_csv(outputs["segments"], keep_default_na=False)


def _settings(**extra):
    from trustseg.report.results import AnalysisSettings

    return AnalysisSettings(outcome="loyalty", predictors=["satisfaction"], focal="satisfaction", method="em",
                            criterion="bic", k=1, k_requested=1, cov_type="oim", alpha=0.05, ci_level=0.95,
                            equivalence_margin=0.1, membership_ci_level=0.95, **extra)


def test_the_name_verdict_and_sentence_read_the_corrected_slope(attenuated_run):
    from trustseg.report.sentences import verdict_sentence

    ignored, corrected_table = _single_stage(attenuated_run, "ignore"), _single_stage(attenuated_run, "correct")
    focal = corrected_table.loc[corrected_table["term"] == "satisfaction"].iloc[0]
    flat = ("does_not_drive", "negligible")
    assert ignored.loc[ignored["term"] == "satisfaction", "verdict"].iloc[0] in flat
    assert focal["observed_verdict"] in flat and focal["latent_verdict"] == "drives_up"
    assert focal["verdict"] == "drives_up" and focal["slope_basis"] == "corrected"
    assert focal["latent_ci_low"] < 0.12 < focal["latent_ci_high"]
    # the name follows the verdict it reads: a flat segment for the scores, a driven one for the construct
    assert "regardless" in ignored["name"].iloc[0] or ignored["name"].iloc[0] == "Indifferent"
    assert corrected_table["name"].iloc[0] == "Satisfaction-driven"
    said = verdict_sentence(corrected_table, _settings())
    assert "corrected for measurement error" in said and "drives loyalty up" in said
    assert f"{focal['latent_estimate']:.2f}" in said and f"{float(focal['estimate']):.3f}" not in said
    # with ignore nothing of the correction shows, and the sentence is the scores' as before
    assert not {"slope_basis", "observed_verdict", "latent_estimate"} & set(ignored.columns)
    assert "measurement error" not in verdict_sentence(ignored, _settings())


def test_choose_slope_basis_keeps_the_observed_where_a_row_was_not_corrected():
    from trustseg.stages.measurement import choose_slope_basis

    table = pd.DataFrame({"term": ["x", "rounds", "z"], "verdict": ["does_not_drive", "drives_up", "inconclusive"],
                          "latent_estimate": [0.3, 0.5, np.nan], "latent_verdict": ["drives_up", "drives_up", ""]})
    out = choose_slope_basis(table, [True, False, True])
    assert list(out["slope_basis"]) == ["corrected", "observed", "observed"]
    assert list(out["verdict"]) == ["drives_up", "drives_up", "inconclusive"]
    assert list(out["observed_verdict"]) == list(table["verdict"])


def test_on_slope_basis_swaps_in_the_latent_numbers_and_drops_the_scores_bootstrap():
    from trustseg.report.results import on_slope_basis

    table = pd.DataFrame({"estimate": [0.1, 0.2], "ci_low": [0.0, 0.1], "ci_high": [0.2, 0.3],
                          "boot_ci_low": [0.01, 0.11], "boot_ci_high": [0.19, 0.29], "latent_estimate": [0.4, 0.5],
                          "latent_ci_low": [0.3, 0.4], "latent_ci_high": [0.5, 0.6],
                          "slope_basis": ["corrected", "observed"]})
    out = on_slope_basis(table)
    assert list(out["estimate"]) == [0.4, 0.2] and list(out["ci_low"]) == [0.3, 0.1]
    assert np.isnan(out["boot_ci_low"].iloc[0]) and out["boot_ci_low"].iloc[1] == 0.11
    assert on_slope_basis(table.drop(columns="slope_basis")) is not None
    pd.testing.assert_frame_equal(on_slope_basis(table.drop(columns="slope_basis")),
                                  table.drop(columns="slope_basis"))


def test_a_chain_is_named_from_its_corrected_effects(chain_run):
    from trustseg.report.naming import name_chain_segments
    from trustseg.report.sentences import chain_sentence
    from trustseg.stages.segments import chain_effects as effects_stage
    from trustseg.stages.segments import chain_segments

    folder = chain_run / "basis"
    folder.mkdir(exist_ok=True)
    outputs = {key: str(folder / f"{key}.{'txt' if key == 'summary' else 'csv'}") for key in STAGE_OUTPUTS}
    settings = _stage_settings(chain_run)
    chain_segments(outputs=outputs, focal="satisfaction", **settings)
    effects_stage(segments_path=outputs["segments"], output=str(folder / "effects.csv"), **settings)
    table = pd.read_csv(outputs["segments"], keep_default_na=False)
    effects = pd.read_csv(folder / "effects.csv", keep_default_na=False)
    for frame in (table.loc[table["term"] != "(Intercept)"], effects):
        corrected_rows = frame.loc[frame["slope_basis"] == "corrected"]
        assert len(corrected_rows) and (corrected_rows["verdict"] == corrected_rows["latent_verdict"]).all()
    paths = effects.loc[effects["kind"] == "path"]
    merged = table.merge(paths.assign(term=paths["path"].str.split(" → ").str[0],
                                      equation=paths["path"].str.split(" → ").str[1]),
                         on=["segment", "equation", "term"], suffixes=("", "_effects"))
    assert (merged["verdict"] == merged["verdict_effects"]).all()
    assert (merged["observed_verdict"] == merged["observed_verdict_effects"]).all()
    levels = table.loc[table["equation"] == "repurchase"].groupby("segment")["level"].first().to_dict()
    names = name_chain_segments(effects, "satisfaction", "repurchase", ["trust"], levels=levels)
    assert table.groupby("segment")["name"].first().to_dict() == names
    said = chain_sentence(effects, _settings(equations=tuple(CHAIN), family=("gaussian", "gaussian")), 1)
    total = effects.loc[(effects["segment"] == 1) & (effects["kind"] == "total")].iloc[0]
    assert "corrected for measurement error" in said and f"{float(total['latent_estimate']):.2f}" in said


def test_bootstrap_refits_recompute_the_corrected_slopes_with_their_own_reliabilities(chain_run):
    from trustseg.model.bootstrap import bootstrap_replicates, summarise_bootstrap
    from trustseg.model.persistence import model_from_dict
    from trustseg.stages.measurement import corrected_model, replicate_correction

    clean = pd.read_csv(chain_run / "clean.csv")
    X = clean[["satisfaction", "trust", "repurchase"]]
    model = model_from_dict(json.loads((chain_run / "fit.json").read_text())["model"])
    reliability = str(chain_run / "reliability.csv")
    latent_of = replicate_correction(model, golf_items(clean), X, None, None, clean["respondent_id"], reliability,
                                     ["satisfaction", "trust"])
    # on the full sample (every row once) the refit's correction is the stage's, up to alpha's complete cases
    full = latent_of(model, np.arange(len(X)))
    stage = corrected_model(model, X, model.predict_proba(X), model.inference(X), None, reliability,
                            ["satisfaction", "trust"], "chain")
    np.testing.assert_allclose(full, stage.estimate, rtol=0.02, atol=0.002)
    replicates = bootstrap_replicates(X, None, model, range(4), seed=1, n_init=1, latent=latent_of)
    kept = replicates.loc[~replicates["lost"]]
    assert kept["latent_estimate"].notna().all()
    assert not np.allclose(kept["latent_estimate"], kept["estimate"])
    reference = model.inference(X).params
    summary = summarise_bootstrap(replicates, reference)
    assert {"latent_boot_ci_low", "latent_boot_ci_high"} <= set(summary.columns)
    assert (summary["latent_boot_ci_low"] <= summary["latent_boot_ci_high"]).all()
    # without a correction the replicates are as before
    assert "latent_estimate" not in bootstrap_replicates(X, None, model, range(1), seed=1, n_init=1)


def golf_items(clean: pd.DataFrame) -> pd.DataFrame:
    """The golf survey's items (reverse-keyed as the cleaning leaves them) on the rows of the scores in ``clean``."""
    items = ["sat_course", "sat_greens", "sat_clubhouse", "sat_value", "sat_booking_hassle", "trust_honest",
             "trust_reliable", "trust_cares", "rep_renew", "rep_play_again", "rep_recommend"]
    survey = pd.read_csv(GOLF).dropna(subset=items).reset_index(drop=True)
    survey["sat_booking_hassle"] = 8 - survey["sat_booking_hassle"]
    # a few unanswered items, as surveys have: alpha is of the complete item rows, as in reliability.csv
    survey.loc[survey.index[::15], "trust_honest"] = np.nan
    return clean.join(survey[items])


def test_a_chain_whose_family_is_not_corrected_keeps_the_scores_verdicts():
    from trustseg.stages.measurement import with_latent_segments

    table = pd.DataFrame({"segment": [1, 1], "equation": ["trust", "trust"], "term": ["(Intercept)", "satisfaction"],
                          "verdict": ["", "drives_up"]})
    out = with_latent_segments(table, None, 0.05, 0.1, "none", chain=True)
    assert list(out["verdict"]) == ["", "drives_up"] and set(out["slope_basis"]) == {"observed"}
    assert out["latent_estimate"].isna().all()

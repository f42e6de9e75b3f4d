"""Several equations sharing the segments (issue 13), against R flexmix.

Reference numbers: tests/data/chain_reference.json (see CHAIN_README.md),
``stepFlexmix(nrep = 50)`` with a list of gaussian ``FLXMRglm`` models
sharing the latent classes, on NPreg (``yn ~ x + x^2`` with ``yp ~ x``) and
on the ECSI chain (``trust ~ satisfaction``, ``loyalty ~ satisfaction +
trust``).  flexmix's sigma carries a degrees-of-freedom correction, so the
exact maximum-likelihood values are the script's ``ml_em`` rerun from
flexmix's best posterior: trustseg must reach at least flexmix's
log-likelihood and equal ``ml_em`` (1e-6 relative), with standard errors
within 2% of ``refit()`` (whose estimates lie within 0.02 of ``ml_em``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trustseg.errors import DataError
from trustseg.model.chain import ChainRegression, equation_list
from trustseg.model.persistence import model_from_dict, model_to_dict

DATA = Path(__file__).parent / "data"
EXAMPLES = Path(__file__).parent.parent / "resources" / "examples"
REFERENCE = json.loads((DATA / "chain_reference.json").read_text())["cases"]


def npreg():
    data = pd.read_csv(DATA / "NPreg.csv")
    return data.assign(x2=data["x"] ** 2), [("yn", ["x", "x2"]), ("yp", ["x"])]


def ecsi():
    raw = pd.read_csv(EXAMPLES / "ecsi_mobi.csv")
    data = pd.DataFrame({
        "satisfaction": raw[["CUSA1", "CUSA2", "CUSA3"]].mean(axis=1),
        "loyalty": raw[["CUSL1", "CUSL3"]].mean(axis=1),
        "trust": raw["IMAG1"].astype(float),
    })
    return data, [("trust", ["satisfaction"]), ("loyalty", ["satisfaction", "trust"])]


CASES = {"npreg_two_responses": npreg, "ecsi_chain": ecsi}
R_TERMS = {"x2": "I(x^2)"}


def reference_vector(component, equations):
    """flexmix's coefficients of one component in trustseg's order (equation by equation)."""
    out = []
    for outcome, predictors in equations:
        coefficients = component[outcome]["coefficients"]
        out += [coefficients["(Intercept)"]] + [coefficients[R_TERMS.get(p, p)] for p in predictors]
    return np.array(out)


def matched(model, components, equations):
    """For each flexmix component, the trustseg segment with the nearest coefficients."""
    reference = np.array([reference_vector(c, equations) for c in components])
    distance = ((model.coef_[None, :, :] - reference[:, None, :]) ** 2).sum(axis=2)
    order = distance.argmin(axis=1)
    assert len(set(order)) == len(order)
    return order


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("k", [1, 2])
def test_shared_segments_reach_flexmix_and_its_refit_standard_errors(case, k):
    data, equations = CASES[case]()
    reference = REFERENCE[case]["models"][k - 1]
    # the floor out of the way: flexmix has none
    model = ChainRegression(equations=equations, n_segments=k, n_init=10, random_state=0,
                            variance_floor=1e-8, min_share=0.01).fit(data)
    assert model.loglik_ >= reference["logLik"] - 1e-6 * abs(reference["logLik"])
    assert model.loglik_ == pytest.approx(reference["ml_em"]["logLik"], rel=1e-9)
    order = matched(model, reference["ml_em"]["components"], equations)
    for j, component in enumerate(reference["ml_em"]["components"]):
        np.testing.assert_allclose(model.coef_[order[j]], reference_vector(component, equations), rtol=1e-5,
                                   atol=1e-6)
        sigmas = [component[outcome]["sigma"] for outcome, _ in equations]
        np.testing.assert_allclose(np.exp(model.extra_[order[j]]), sigmas, rtol=1e-6)
        assert model.weights_[order[j]] == pytest.approx(reference["ml_em"]["prior"][j], abs=1e-7)
    inference = model.inference(data, None)
    errors = dict(zip(inference.param_names, np.sqrt(np.diag(inference.cov))))
    for j, by_outcome in enumerate(reference["refit"]):
        for outcome, refit in by_outcome.items():
            predictors = dict(equations)[outcome]
            for term, se in zip(["(Intercept)"] + predictors, refit["std_error"]):
                ours = errors[f"{order[j] + 1}:{outcome}~{term}"]
                assert ours == pytest.approx(se, rel=0.02), (case, k, j, outcome, term)
            assert errors[f"{order[j] + 1}:{outcome}:log_sigma"] == pytest.approx(refit["se_log_sigma"], rel=0.02)


@pytest.mark.parametrize("case", list(CASES))
def test_three_segments_from_flexmix_solution_reach_the_exact_ml_optimum(case):
    data, equations = CASES[case]()
    reference = REFERENCE[case]["models"][2]
    components = reference["ml_em"]["components"]
    start = {
        "weights": reference["ml_em"]["prior"],
        "beta": [reference_vector(c, equations) for c in components],
        "extra": [[np.log(c[o]["sigma"]) for o, _ in equations] for c in components],
    }
    model = ChainRegression(equations=equations, n_segments=3, n_init=0, init_params=start,
                            variance_floor=1e-8, min_share=0.01).fit(data)
    assert model.loglik_ == pytest.approx(reference["ml_em"]["logLik"], rel=1e-9)
    assert model.loglik_ >= reference["logLik"]


def test_the_chain_is_saved_and_loaded_and_predicts_the_same():
    data, equations = ecsi()
    model = ChainRegression(equations=equations, n_segments=2, n_init=4, random_state=1).fit(data)
    again = model_from_dict(json.loads(json.dumps(model_to_dict(model))))
    assert isinstance(again, ChainRegression) and again.equations_ == model.equations_
    np.testing.assert_array_equal(again.predict_proba(data, None), model.predict_proba(data, None))
    assert again.coef_terms_ == ["trust~(Intercept)", "trust~satisfaction", "loyalty~(Intercept)",
                                 "loyalty~satisfaction", "loyalty~trust"]
    assert again.extra_names_ == ["trust:log_sigma", "loyalty:log_sigma"]
    np.testing.assert_array_equal(again.variance_floor_, model.variance_floor_)


def test_segments_are_ordered_by_the_total_effect_through_the_chain():
    data, equations = ecsi()
    model = ChainRegression(equations=equations, n_segments=2, n_init=10, random_state=0, variance_floor=1e-8,
                            min_share=0.01).fit(data)
    direct = model.path_coefficients("loyalty", "satisfaction")
    indirect = model.path_coefficients("trust", "satisfaction") * model.path_coefficients("loyalty", "trust")
    total = model.total_effects("satisfaction")
    np.testing.assert_allclose(total, direct + indirect)
    assert total[0] > total[1]
    np.testing.assert_allclose(model.total_effects("satisfaction", "trust"),
                               model.path_coefficients("trust", "satisfaction"))


def test_a_simulated_chain_carries_its_mediation():
    data, equations = ecsi()
    model = ChainRegression(equations=equations, n_segments=2, n_init=4, random_state=0).fit(data)
    draws = model.sample_y(data[["satisfaction"]], random_state=0)
    assert draws.shape == (len(data), 2)
    again = model.sample_y(data[["satisfaction"]], random_state=0)
    np.testing.assert_array_equal(draws, again)


@pytest.mark.parametrize("equations,message", [
    ([], "at least one equation"),
    ([("loyalty", ["satisfaction", "trust"]), ("trust", ["satisfaction"])], r"uses \['trust'\], the outcome of a "
                                                                            "later equation"),
    ([("trust", ["trust"])], "its own outcome among its predictors"),
    ([("trust", ["satisfaction"]), ("trust", ["loyalty"])], "outcome of more than one equation"),
])
def test_equations_with_a_cycle_or_a_repeat_are_refused(equations, message):
    with pytest.raises(ValueError, match=message):
        equation_list(equations)


def test_a_focal_predictor_outside_the_first_equation_is_refused():
    data, equations = ecsi()
    with pytest.raises(DataError, match=r"'trust' is not a predictor of the first equation"):
        ChainRegression(equations=equations, n_segments=1, n_init=1, focal="trust").fit(data)


# ----------------------------------------------------------------------------- effects and recovery

#: per segment: share, trust = a + b sat, repurchase = c + d sat + e trust (latent scale), residual SDs
CHAIN_TRUTH = {
    "trust_building": {"share": 0.45, "trust": (0.5, 0.8), "rep": (0.5, 0.0, 0.9)},
    "without_trust": {"share": 0.35, "trust": (2.5, 0.0), "rep": (0.5, 0.9, 0.0)},
    "loyal": {"share": 0.20, "trust": (6.0, 0.0), "rep": (6.2, 0.0, 0.0)},
}


def simulate_chain(n, seed, sd=0.5):
    """A survey whose segments differ in how satisfaction reaches repurchase (through trust or not)."""
    rng = np.random.default_rng(seed)
    names = list(CHAIN_TRUTH)
    segment = rng.choice(len(names), size=n, p=[CHAIN_TRUTH[s]["share"] for s in names])
    satisfaction = np.clip(rng.normal(4.5, 1.2, n), 1, 7)
    trust = np.empty(n)
    rep = np.empty(n)
    for j, name in enumerate(names):
        rows = segment == j
        a, b = CHAIN_TRUTH[name]["trust"]
        c, d, e = CHAIN_TRUTH[name]["rep"]
        trust[rows] = a + b * satisfaction[rows] + rng.normal(0, sd, rows.sum())
        rep[rows] = c + d * satisfaction[rows] + e * trust[rows] + rng.normal(0, sd, rows.sum())
    return pd.DataFrame({"satisfaction": satisfaction, "trust": trust, "repurchase": rep}), segment


CHAIN = [("trust", ["satisfaction"]), ("repurchase", ["satisfaction", "trust"])]


def test_chain_paths_run_from_the_focal_predictor_to_the_last_outcome():
    from trustseg.model.effects import chain_paths

    assert chain_paths(CHAIN, "satisfaction", "repurchase") == [
        ["satisfaction", "repurchase"], ["satisfaction", "trust", "repurchase"]]
    longer = [("cognitive", ["satisfaction"]), ("affective", ["cognitive", "satisfaction"]),
              ("repurchase", ["affective", "cognitive"])]
    assert chain_paths(longer, "satisfaction", "repurchase") == [
        ["satisfaction", "cognitive", "repurchase"], ["satisfaction", "affective", "repurchase"],
        ["satisfaction", "cognitive", "affective", "repurchase"]]


def test_effects_add_up_and_their_delta_method_errors_match_simulation():
    data, _ = simulate_chain(1500, seed=1)
    model = ChainRegression(equations=CHAIN, n_segments=3, n_init=10, random_state=0).fit(data)
    inference = model.inference(data, None)
    effects = model.effects(inference)
    assert list(effects.columns[:10]) == ["segment", "kind", "path", "estimate", "std_error", "ci_low", "ci_high",
                                          "p_zero", "p_tost", "verdict"]
    for segment, rows in effects.groupby("segment"):
        by_kind = rows.set_index("kind")["estimate"]
        assert by_kind["total"] == pytest.approx(by_kind["direct"] + by_kind["indirect"])
        np.testing.assert_allclose(by_kind["total"], model.total_effects("satisfaction")[segment - 1])
    # the delta-method SE of the product of two paths against draws from their joint normal, in the
    # trust-building segment (where both paths are far from zero; near zero the product's spread is of
    # second order, which the delta method misses: the bootstrap intervals are reported for that)
    names = list(inference.param_names)
    cov = np.asarray(inference.cov)
    rng = np.random.default_rng(0)
    indirect = effects.loc[effects["kind"] == "indirect"].set_index("segment")["estimate"]
    for j in [int(indirect.idxmax()) - 1]:
        index = [names.index(f"{j + 1}:trust~satisfaction"), names.index(f"{j + 1}:repurchase~trust")]
        draws = rng.multivariate_normal(model.coef_[j, [1, 4]], cov[np.ix_(index, index)], size=200_000)
        simulated = np.std(draws[:, 0] * draws[:, 1])
        row = effects.loc[(effects["segment"] == j + 1) & (effects["kind"] == "indirect")].iloc[0]
        assert row["std_error"] == pytest.approx(simulated, rel=0.05)


def test_a_simulated_chain_recovers_its_segments_paths_and_indirect_effects():
    """Over 30 simulated surveys: segments found, and 95% intervals cover the true indirect effects."""
    from sklearn.metrics import adjusted_rand_score

    names = list(CHAIN_TRUTH)
    true_indirect = {name: CHAIN_TRUTH[name]["trust"][1] * CHAIN_TRUTH[name]["rep"][2] for name in names}
    true_direct = {name: CHAIN_TRUTH[name]["rep"][1] for name in names}
    covered, total, aris = 0, 0, []
    for seed in range(30):
        data, segment = simulate_chain(600, seed=100 + seed)
        model = ChainRegression(equations=CHAIN, n_segments=3, n_init=6, random_state=seed).fit(data)
        labels = model.predict_proba(data, None).argmax(axis=1)
        aris.append(adjusted_rand_score(segment, labels))
        effects = model.effects(model.inference(data, None))
        # fitted segments matched to the true ones by their (direct, indirect) effects
        fitted = effects.pivot_table(index="segment", columns="kind", values="estimate")
        for name in names:
            distance = (fitted["direct"] - true_direct[name]) ** 2 + (fitted["indirect"] - true_indirect[name]) ** 2
            row = effects.loc[(effects["segment"] == distance.idxmin()) & (effects["kind"] == "indirect")].iloc[0]
            covered += row["ci_low"] <= true_indirect[name] <= row["ci_high"]
            total += 1
    assert np.median(aris) > 0.65  # the segments meet where satisfaction is middling: 0.68-0.73 typical
    # 90 intervals at 95%: at least 0.85 covered allows for sampling noise (binomial sd 0.023)
    assert covered / total >= 0.85, covered / total


# ----------------------------------------------------------------------------- the rest of the engine for chains


@pytest.fixture(scope="module")
def chain_fits():
    data, _ = simulate_chain(500, seed=7)
    fits = {k: ChainRegression(equations=CHAIN, n_segments=k, n_init=6, random_state=0).fit(data) for k in (1, 2, 3)}
    return data, fits


def test_selection_problems_and_classification_work_for_a_chain(chain_fits):
    from trustseg.model.classification import classification_quality
    from trustseg.model.diagnostics import segment_problems
    from trustseg.model.selection import criteria_table

    data, fits = chain_fits
    table = criteria_table(fits, data, None, criterion="bic")
    assert table.loc[table["chosen"], "k"].tolist() == [3]
    assert (table["n_params"] == [7, 15, 23]).all()
    problems = segment_problems(fits[3], data, None)
    assert problems["problems"].eq("").all() and not problems["variance_floor"].any()
    # a floor above a segment's residual variance puts it on the floor, equation by equation
    floored = segment_problems(fits[3], data, None, variance_floor=[10.0, 1e-6])
    assert floored["variance_floor"].all()
    quality = classification_quality(fits[3].predict_proba(data, None))
    assert quality["summary"].set_index("measure")["value"]["entropy_r2"] > 0.5


def test_bootstrap_and_lr_test_refit_a_chain(chain_fits):
    from trustseg.model.bootstrap import bootstrap_replicates, lr_test
    from trustseg.model.effects import bootstrap_effect_intervals

    data, fits = chain_fits
    model = fits[3]
    replicates = bootstrap_replicates(data, None, model, range(4), seed=1, n_init=2)
    assert not replicates["lost"].any() and replicates["note"].eq("").all()
    assert set(replicates["term"]) == set(model.coef_terms_)
    intervals = bootstrap_effect_intervals(replicates, model.equations_, "satisfaction")
    assert set(intervals["kind"]) == {"path", "direct", "indirect", "total"}
    assert (intervals["boot_ci_low"] <= intervals["boot_ci_high"]).all() and (intervals["boot_replicates"] == 4).all()
    result = lr_test(data, None, fits[2], fits[3], 3, seed=5, n_init=2)
    assert result["n_failed"] == 0 and result["statistic"] > 50
    assert result["p_value"] == pytest.approx(1 / 4)


def test_the_chain_rules_are_reported_equation_by_equation():
    from trustseg.equations import chain_order_problems

    equations = [("trust", ["satisfaction", "repurchase"]), ("trust", ["trust", "price", "price"]),
                 ("repurchase", ["trust"])]
    assert chain_order_problems(equations) == [
        (0, "later_outcome", ["repurchase"]),
        (1, "own_outcome", ["trust"]),
        (1, "repeated_predictor", ["trust", "price", "price"]),
        (1, "repeated_outcome", ["trust"]),
    ]
    assert chain_order_problems([("trust", ["satisfaction"]), ("repurchase", ["satisfaction", "trust"])]) == []

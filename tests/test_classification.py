import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from trustseg.model.classification import classification_quality


def _summary(q):
    return dict(zip(q["summary"]["measure"], q["summary"]["value"]))


def test_perfect_separation():
    p = np.eye(3)[[0, 0, 1, 2, 2, 2]]
    q = classification_quality(p)
    s = _summary(q)
    assert s["entropy_r2"] == pytest.approx(1.0)
    assert s["classification_error"] == pytest.approx(0.0)
    assert q["segments"]["n_modal"].tolist() == [2, 1, 3]
    assert np.allclose(q["error_table"].iloc[:, 1:].to_numpy(), np.diag([2, 1, 3]))
    assert np.allclose(q["segments"]["avg_posterior"], 1.0)


def test_uniform_posteriors_zero_entropy_r2():
    p = np.full((10, 4), 0.25)
    s = _summary(classification_quality(p))
    assert s["entropy_r2"] == pytest.approx(0.0, abs=1e-12)
    assert s["classification_error"] == pytest.approx(0.75)


def test_known_values_and_table_identities():
    p = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.3, 0.7]])
    q = classification_quality(p)
    s = _summary(q)
    ent = -(p * np.log(p)).sum()
    assert s["entropy_r2"] == pytest.approx(1 - ent / (4 * np.log(2)))
    assert s["classification_error"] == pytest.approx(1 - (0.9 + 0.6 + 0.8 + 0.7) / 4)
    err = q["error_table"][["segment_1", "segment_2"]].to_numpy()
    assert np.allclose(err, [[1.5, 0.5], [0.5, 1.5]])
    # row sums = modal counts, column sums = expected sizes, off-diagonal share = error rate
    assert np.allclose(err.sum(axis=1), q["segments"]["n_modal"])
    assert np.allclose(err.sum(axis=0), p.sum(axis=0))
    assert (err.sum() - np.trace(err)) / err.sum() == pytest.approx(s["classification_error"])
    avg = q["average_posterior"][["segment_1", "segment_2"]].to_numpy()
    assert np.allclose(avg, [[0.75, 0.25], [0.25, 0.75]])


def test_weights():
    p = np.array([[0.9, 0.1], [0.2, 0.8]])
    q = classification_quality(p, weights=[3, 1])
    s = _summary(q)
    assert s["classification_error"] == pytest.approx(1 - (3 * 0.9 + 0.8) / 4)
    assert q["segments"]["expected_size"].tolist() == pytest.approx([2.9, 1.1])


def test_single_segment_and_empty_segment():
    s = _summary(classification_quality(np.ones((5, 1))))
    assert s["entropy_r2"] == 1.0 and s["classification_error"] == 0.0
    q = classification_quality(np.array([[0.7, 0.3, 0.0], [0.6, 0.1, 0.3]]))
    seg = q["segments"]
    assert seg.loc[1, "n_modal"] == 0 and np.isnan(seg.loc[1, "avg_posterior"])
    assert "no respondent" in seg.loc[1, "note"]


def test_tidy_layout():
    p = np.array([[0.9, 0.1], [0.2, 0.8]])
    tidy = classification_quality(p)["tidy"]
    assert list(tidy.columns) == ["table", "modal_segment", "segment", "measure", "value", "note"]
    assert set(tidy["table"]) == {"summary", "segments", "average_posterior", "error_table"}
    assert str(tidy["segment"].dtype) == "Int64"
    assert len(tidy[tidy["table"] == "error_table"]) == 4


@pytest.mark.parametrize("bad", [np.array([[0.5, 0.6]]), np.array([[np.nan, 1.0]]), np.zeros((0, 2))])
def test_invalid_posteriors(bad):
    with pytest.raises(ValueError):
        classification_quality(bad)



@settings(max_examples=40, deadline=None)
@given(arrays(float, st.tuples(st.integers(1, 30), st.integers(1, 5)), elements=st.floats(0.01, 10)))
def test_properties_on_random_posteriors(raw):
    p = raw / raw.sum(axis=1, keepdims=True)
    q = classification_quality(p)
    s = _summary(q)
    assert -1e-9 <= s["entropy_r2"] <= 1 + 1e-9
    assert 0 <= s["classification_error"] <= 1 - 1 / p.shape[1] + 1e-9
    err = q["error_table"].iloc[:, 1:].to_numpy()
    assert np.allclose(err.sum(axis=0), p.sum(axis=0))
    assert err.sum(axis=1).tolist() == pytest.approx(q["segments"]["n_modal"].tolist())

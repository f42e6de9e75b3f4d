"""The Snakemake workflow end to end, on small configs in temporary directories.

These tests run the real workflow (every stage, as separate jobs) the way a
user runs it, and check the results contract that users, notebooks and the
report rely on, and which jobs a change of config or code reruns (dry runs on
the one golf run).  Bootstrap and likelihood-ratio replicates are cut down to
keep the module quick on two cores.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import adjusted_rand_score

from trustseg.stages.figures import segment_figures
from trustseg.survey.simulate import simulate_golf_survey

pytestmark = pytest.mark.workflow

REPO = Path(__file__).resolve().parents[1]
NAME = "repurchase_on_satisfaction"
CHAIN = "trust_chain"
SNAKEMAKE = shutil.which("snakemake") or str(Path(sys.executable).with_name("snakemake"))
QUICK = {
    "bootstrap": {"replicates": 4, "chunks": 2, "n_init": 2, "lr_test_replicates": 3},
    "report": {"notebooks": False, "figure_formats": []},
}


def run_workflow(
    workdir: Path, configfile: Path | None = None, *extra: str, repo: Path = REPO
) -> subprocess.CompletedProcess:
    command = [SNAKEMAKE, "--snakefile", str(repo / "Snakefile"), "--directory", str(workdir), "--cores", "2"]
    if configfile is not None:
        command += ["--configfile", str(configfile)]
    return subprocess.run(command + list(extra), capture_output=True, text=True, cwd=workdir, timeout=600,
                          env={**os.environ, "PYTHONHASHSEED": "0"})


def job_counts(output: str) -> dict[str, int]:
    """Jobs per rule in the first 'Job stats' table of Snakemake's output ({} when nothing is to be done)."""
    if "Job stats:" not in output:
        assert "Nothing to be done" in output, output[-3000:]
        return {}
    counts = {}
    lines = output[output.index("Job stats:"):].splitlines()
    for line in lines[3:]:  # after the header and the dashes
        rule, count = line.split()
        if rule == "total":
            return counts
        counts[rule] = int(count)
    raise AssertionError(f"no end to the job stats table:\n{output[-3000:]}")


def planned_jobs(workdir: Path, configfile: Path, repo: Path) -> dict[str, int]:
    """The jobs a dry run of the workflow plans, per rule.

    A job whose input is found through the select_k checkpoint (segments,
    bootstrap_chunk) is planned whenever select_k is, since its input cannot be
    known before select_k has run; the real run then drops it when the chosen K
    is unchanged (see test_an_added_k_fits_only_that_k).
    """
    result = run_workflow(workdir, configfile, "--dry-run", "--quiet", "rules", repo=repo)
    assert result.returncode == 0, result.stderr[-4000:]
    return job_counts(result.stdout + result.stderr)


def changed_config(golf_run: Path, tmp_path: Path, **changes) -> Path:
    """The golf run's config with some settings of its analysis changed (data path relative to the golf run)."""
    config = yaml.safe_load((golf_run / "config.yaml").read_text())
    config["analyses"][NAME].update(changes)
    path = tmp_path / "changed.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@contextmanager
def edited(path: Path, mtime: float):
    """Append a comment to a source file, dated ``mtime``; put the file back as it was afterwards."""
    original, stat = path.read_bytes(), path.stat()
    # Snakemake compares checksums of small inputs, so the edit must change the content.
    path.write_text(path.read_text() + "\n# an edit\n")
    os.utime(path, (mtime, mtime))
    try:
        yield
    finally:
        path.write_bytes(original)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def golf_config(workdir: Path, n_members: int = 400, analyses: tuple[str, ...] = (NAME, CHAIN), **changes) -> Path:
    survey, truth = simulate_golf_survey(2010, n_members=n_members)
    survey.to_csv(workdir / "survey.csv", index=False)
    truth.to_csv(workdir / "truth.csv", index=False)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["data"]["path"] = "survey.csv"
    # the single equation (whose settings the dry-run tests change) and the chain (which finds the true segments);
    # trust on satisfaction alone adds nothing these tests need
    config["analyses"] = {name: config["analyses"][name] for name in analyses}
    for analysis in config["analyses"].values():
        analysis.update(segments=[1, 2, 3, 4], n_init=5)
    config.update(QUICK)
    for key, value in changes.items():
        config[key] = value
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return path


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory):
    """A copy of the workflow and package sources, so a test may edit the code."""
    copy = tmp_path_factory.mktemp("repo")
    for part in ("Snakefile", "workflow", "src", "config", "notebooks"):
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, copy / part, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, copy / part)
    return copy


@pytest.fixture(scope="module")
def golf_run(tmp_path_factory, repo_copy):
    workdir = tmp_path_factory.mktemp("golf")
    configfile = golf_config(workdir)
    result = run_workflow(workdir, configfile, repo=repo_copy)
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


def test_results_contract(golf_run):
    results = golf_run / "results"
    for name in ("clean", "report", "flagged", "reliability", "piles"):
        assert (results / "cleaning" / f"{name}.csv").stat().st_size > 0
    report = pd.read_csv(results / "cleaning" / "report.csv")
    assert {"rule", "rows_affected", "action"} <= set(report.columns)

    analysis = results / NAME
    selection = pd.read_csv(analysis / "model_selection.csv")
    assert {"k", "loglik", "n_params", "aic", "bic", "icl", "entropy", "min_share", "chosen", "lr_p_value"} <= set(
        selection.columns
    )
    assert selection["k_requested"].tolist() == [1, 2, 3, 4]
    assert selection["chosen"].sum() == 1
    # issue 11: every K's problems (none for the chosen golf K), the choice's note, the smallest attainable LR p
    assert {"problems", "choice_note", "lr_p_min"} <= set(selection.columns)
    assert pd.isna(selection.loc[selection["chosen"], "problems"].iloc[0])
    tested = selection["lr_p_value"].notna()
    assert (selection.loc[tested, "lr_p_min"] == 1 / (selection.loc[tested, "lr_replicates"] + 1)).all()
    spread = pd.read_csv(analysis / "residual_spread.csv")
    assert list(spread.columns[:6]) == ["segment", "predictor", "statistic", "df", "p_value", "spread_varies"]

    segments = pd.read_csv(analysis / "segments.csv")
    assert {
        "segment",
        "share",
        "term",
        "estimate",
        "std_error",
        "ci_low",
        "ci_high",
        "p_value",
        "verdict",
        "name",
    } <= set(segments.columns)
    focal = segments[segments["term"] == "satisfaction"]
    assert set(focal["verdict"]) <= {"drives_up", "drives_down", "negligible", "does_not_drive", "inconclusive",
                                     "unreliable"}
    # segments are numbered by the focal slope, steepest first
    assert focal["estimate"].is_monotonic_decreasing

    assignments = pd.read_csv(analysis / "assignments.csv")
    k = segments["segment"].nunique()
    assert list(assignments.columns) == ["respondent_id", "segment"] + [f"posterior_{j}" for j in range(1, k + 1)]
    assert assignments.filter(like="posterior_").sum(axis=1).sub(1).abs().max() < 1e-9
    for figure in ("segment_scatter", "information_criteria", "posterior_certainty", "coefficient_forest",
                   "bootstrap_stability", "profile_heatmap"):
        assert (analysis / "figures" / f"{figure}.png").stat().st_size > 10_000
    for table in ("bootstrap", "profiles", "membership", "classification", "tests"):
        assert not pd.read_csv(analysis / f"{table}.csv").empty

    # the settings the notebooks read, written once by the workflow
    settings = json.loads((analysis / "analysis.json").read_text())
    chosen = selection.loc[selection["chosen"]].iloc[0]
    assert settings["k"] == k == chosen["k"] and settings["k_requested"] == chosen["k_requested"]
    assert settings["focal"] == "satisfaction" and settings["outcome"] == "repurchase"
    assert settings["criterion"] == "bic" and settings["alpha"] == 0.05 and settings["ci_level"] == 0.95
    assert settings["membership_ci_level"] == 0.95 and settings["equivalence_margin"] == 0.1


def _ari_with_truth(golf_run: Path, name: str) -> float:
    assignments = pd.read_csv(golf_run / "results" / name / "assignments.csv", dtype={"respondent_id": str})
    truth = pd.read_csv(golf_run / "truth.csv", dtype={"respondent_id": str})
    merged = assignments.merge(truth, on="respondent_id", suffixes=("", "_true"))
    assert len(merged) == len(assignments)
    return adjusted_rand_score(merged["segment_true"], merged["segment"])


def test_golf_segments_match_the_truth(golf_run):
    """The chain finds the three true segments; repurchase on satisfaction alone cannot tell two of them apart."""
    analysis = golf_run / "results" / CHAIN
    selection = pd.read_csv(analysis / "model_selection.csv")
    assert int(selection.loc[selection["chosen"], "k"].iloc[0]) == 3
    chain_ari = _ari_with_truth(golf_run, CHAIN)
    assert chain_ari > 0.6
    # trust-building and satisfied-without-trust members share one line of repurchase on satisfaction
    assert _ari_with_truth(golf_run, NAME) < chain_ari - 0.2
    names = pd.read_csv(analysis / "segments.csv").groupby("segment")["name"].first().to_dict()
    effects = pd.read_csv(analysis / "effects.csv")
    direct = min(names, key=lambda s: 0 if names[s].startswith("Satisfaction-driven") else 1)
    indirect = effects.loc[(effects["kind"] == "indirect") & (effects["segment"] == direct), "verdict"].iloc[0]
    # 'without trust' only where the small sample shows the indirect effect flat; otherwise it is not claimed
    expected = ("Satisfaction-driven without trust" if indirect in ("does_not_drive", "negligible")
                else "Satisfaction-driven directly")
    assert set(names.values()) - {names[3]} == {"Trust-building", expected}, (names, indirect)
    # the loyal segment's name says what its total effect shows: flat, or (with this test's few starts) unclear
    total = pd.read_csv(analysis / "effects.csv").query("kind == 'total' and segment == 3")["verdict"].iloc[0]
    assert names[3] == ("Loyal regardless" if total in ("does_not_drive", "negligible")
                        else "Satisfaction effect unclear, high repurchase"), (names[3], total)


def test_personal_data_never_reaches_results(golf_run):
    for path in (golf_run / "results").rglob("*"):
        if path.suffix in {".csv", ".md", ".tex", ".json", ".txt"}:
            assert "@example.com" not in path.read_text(encoding="utf-8"), path


def test_same_data_config_and_seed_give_identical_results(golf_run, repo_copy, tmp_path):
    """Two runs give the same bytes in every file under results/, notebooks, HTML, PDF and SVG included.

    The first run is the golf run (tables, fits, PNGs) with PDF and SVG added to its figure formats
    and the notebooks turned on; the second runs everything from scratch.  So a date, a random id, or a
    redrawn figure that differs from a fresh one would all show.
    """
    first, second = tmp_path / "first", tmp_path / "second"
    shutil.copytree(golf_run, first, symlinks=True)  # dates kept: nothing is refitted
    second.mkdir()
    shutil.copy(golf_run / "survey.csv", second / "survey.csv")
    config = yaml.safe_load((golf_run / "config.yaml").read_text())
    config["report"] = {"notebooks": True, "figure_formats": ["pdf", "svg"]}
    # the formats added to the finished golf run must be drawn without being asked for by rule
    for workdir, extra in ((first, []), (second, [])):
        (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
        # two folders, so two absolute --configfile paths: the notebooks name the file relative to the run
        result = run_workflow(workdir, workdir / "config.yaml", *extra, repo=repo_copy)
        assert result.returncode == 0, result.stderr[-4000:]
    kinds = {p.suffix for p in (second / "results").rglob("*") if p.is_file()}
    assert {".csv", ".json", ".png", ".pdf", ".svg", ".ipynb", ".html"} <= kinds
    assert_same_results(first, second, at_least=80)


def assert_same_results(first: Path, second: Path, at_least: int) -> None:
    """Every file under results/ (tables, fits, JSON, figures, notebooks) is byte-identical in two runs."""
    files = sorted(p.relative_to(first) for p in (first / "results").rglob("*") if p.is_file())
    assert len(files) >= at_least
    assert files == sorted(p.relative_to(second) for p in (second / "results").rglob("*") if p.is_file())
    for path in files:
        assert (second / path).read_bytes() == (first / path).read_bytes(), path


def test_rerun_is_a_no_op_and_code_change_reruns_dependent_rules(golf_run, repo_copy):
    quiet = run_workflow(golf_run, golf_run / "config.yaml", "--dry-run", repo=repo_copy)
    assert quiet.returncode == 0
    assert "Nothing to be done" in quiet.stdout + quiet.stderr

    future = max(p.stat().st_mtime for p in (golf_run / "results").rglob("*") if p.is_file()) + 100
    src = repo_copy / "src" / "trustseg"
    figure_rules = {"segment_figures", "bootstrap_figure", "profile_figure", "cleaning_figure", "chain_figures"}
    with edited(src / "report" / "figures" / "kit.py", future):
        jobs = planned_jobs(golf_run, golf_run / "config.yaml", repo_copy)
    # a figure edit redraws the figures (and would re-execute the notebooks, off here), and fits nothing
    assert set(jobs) == figure_rules | {"all"}

    with edited(src / "model" / "mixture.py", future):
        jobs = planned_jobs(golf_run, golf_run / "config.yaml", repo_copy)
    # both analyses, K = 1..4 each; LR tests are planned once select_k has run
    assert jobs["fit_k"] == 8 and jobs["select_k"] == 2
    assert "clean_survey" not in jobs and "cleaning_figure" not in jobs  # cleaning does not use the engine

    with edited(src / "model" / "chain.py", future):
        jobs = planned_jobs(golf_run, golf_run / "config.yaml", repo_copy)
    # the chain's own code refits the chain (K = 1..4) and leaves the single equation's fits as they are
    assert jobs["fit_k"] == 4 and jobs["select_k"] == 1

    # both files are back as they were
    again = run_workflow(golf_run, golf_run / "config.yaml", "--dry-run", repo=repo_copy)
    assert job_counts(again.stdout + again.stderr) == {}


REFITS = {"clean_survey", "fit_k", "lr_test", "bootstrap_chunk"}


@pytest.mark.parametrize("change", [{"alpha": 0.10}, {"equivalence_margin": 0.2}])
def test_new_alpha_or_margin_refits_nothing(golf_run, repo_copy, tmp_path, change):
    jobs = planned_jobs(golf_run, changed_config(golf_run, tmp_path, **change), repo_copy)
    # new verdicts, intervals and names, drawn again; no model is fitted and K is not chosen again
    assert jobs["segments"] == jobs["segment_figures"] == jobs["bootstrap_merge"] == 1
    # every analysis.json records the config's fingerprint (its provenance), so both analyses' are rewritten
    assert jobs["record_settings"] == 2 and jobs["record_provenance"] == 1
    assert not (REFITS | {"select_k", "model_selection"}) & set(jobs)


def test_new_criterion_refits_nothing(golf_run, repo_copy, tmp_path):
    jobs = planned_jobs(golf_run, changed_config(golf_run, tmp_path, criterion="aic"), repo_copy)
    assert jobs["select_k"] == jobs["model_selection"] == 1
    assert jobs["record_settings"] == 2  # both analysis.json record the changed config's fingerprint
    assert "fit_k" not in jobs and "lr_test" not in jobs and "clean_survey" not in jobs


def test_lr_test_criterion_tests_every_k_before_choosing(tmp_path):
    """criterion: lr_test plans every K-against-K+1 test before select_k, which chooses K from them."""
    configfile = golf_config(tmp_path, analyses=(NAME,))
    config = yaml.safe_load(configfile.read_text())
    planned = {}
    for criterion in ("bic", "lr_test"):
        config["analyses"][NAME]["criterion"] = criterion
        configfile.write_text(yaml.safe_dump(config, sort_keys=False))
        planned[criterion] = planned_jobs(tmp_path, configfile, REPO)
    assert planned["lr_test"]["lr_test"] == 3 and planned["lr_test"]["select_k"] == 1  # K = 1, 2, 3 against K + 1
    assert planned["lr_test"]["fit_k"] == planned["bic"]["fit_k"] == 4
    assert "lr_test" not in planned["bic"]  # with a criterion the tests wait for the chosen K


def test_lr_test_criterion_needs_lr_test_replicates(tmp_path):
    configfile = golf_config(tmp_path)
    config = yaml.safe_load(configfile.read_text())
    config["analyses"][NAME]["criterion"] = "lr_test"
    config["bootstrap"]["lr_test_replicates"] = 0
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_workflow(tmp_path, configfile)
    _assert_clean_failure(result, f"analyses.{NAME}.criterion", "bootstrap.lr_test_replicates")
    assert not (tmp_path / "results").exists()


def test_an_added_k_fits_only_that_k(golf_run, repo_copy, tmp_path):
    configfile = changed_config(golf_run, tmp_path, segments=[1, 2, 3, 4, 5])
    jobs = planned_jobs(golf_run, configfile, repo_copy)
    assert jobs["fit_k"] == 1 and jobs["select_k"] == 1
    assert "clean_survey" not in jobs and "lr_test" not in jobs  # K = 4 is above the chosen K: no new LR test

    # Run it, in a copy (dates kept): the jobs planned through the checkpoint drop out once the same K is chosen again.
    # (Only up to the tables whose jobs matter here; the figures and profiles would only be redrawn.)
    work = tmp_path / "golf"
    shutil.copytree(golf_run, work, symlinks=True)
    targets = [f"results/{NAME}/{name}" for name in ("analysis.json", "model_selection.csv", "bootstrap.csv")]
    result = run_workflow(work, configfile, "--", *targets, repo=repo_copy)
    assert result.returncode == 0, result.stderr[-4000:]
    ran = re.findall(r"Finished jobid: \d+ \(Rule: (\w+)\)", result.stdout + result.stderr)
    assert ran.count("fit_k") == 1 and "select_k" in ran
    assert not {"clean_survey", "lr_test", "bootstrap_chunk", "segments"} & set(ran), ran
    fits = work / "results" / NAME / "fits"
    assert (fits / "k5.json").is_file()
    for k in range(1, 5):
        assert (fits / f"k{k}.json").stat().st_mtime == (
            golf_run / "results" / NAME / "fits" / f"k{k}.json"
        ).stat().st_mtime
    chosen = json.loads((golf_run / "results" / NAME / "analysis.json").read_text())["k"]
    assert chosen < 4  # else K = 5 would be tested against, and this test would mean something else
    assert json.loads((work / "results" / NAME / "analysis.json").read_text())["k"] == chosen
    assert pd.read_csv(work / "results" / NAME / "model_selection.csv")["k_requested"].tolist() == [1, 2, 3, 4, 5]


def test_segment_scatter_matches_respondents_by_id(golf_run, tmp_path, monkeypatch):
    """The scatter pairs each respondent's scores with their own segment, however assignments.csv is ordered."""
    from trustseg.report import figures as fig
    from trustseg.report.figures.kit import Figure

    drawn = []

    def fake(key):
        def draw(*args, **kwargs):
            if key == "segment_scatter":
                drawn.append(args[0])
            return Figure(paths=(), caption=key)
        return draw

    for key in ("segment_scatter", "information_criteria", "posterior_certainty", "coefficient_forest"):
        monkeypatch.setattr(fig, key, fake(key))
    results = golf_run / "results"
    analysis = results / NAME
    settings = json.loads((analysis / "analysis.json").read_text())
    assignments = pd.read_csv(analysis / "assignments.csv", dtype={"respondent_id": str})
    shuffled = tmp_path / "assignments.csv"
    assignments.sample(frac=1, random_state=1).to_csv(shuffled, index=False)
    inputs = {key: str(analysis / f"{key}.csv") for key in ("segments", "fitted_lines", "model_selection")}
    for path in (analysis / "assignments.csv", shuffled):
        segment_figures(
            str(results / "cleaning" / "clean.csv"), NAME, {**inputs, "assignments": str(path)}, str(tmp_path),
            outcome=settings["outcome"], predictors=settings["predictors"], focal=settings["focal"],
            alpha=settings["alpha"], equivalence_margin=settings["equivalence_margin"], constructs={},
            weight_column=None, formats=[], seed=2010,
        )
    pd.testing.assert_frame_equal(drawn[0], drawn[1])
    clean = pd.read_csv(results / "cleaning" / "clean.csv", dtype={"respondent_id": str})
    expected = assignments.merge(clean, on="respondent_id")
    assert drawn[0]["segment"].tolist() == expected["segment"].tolist()
    assert drawn[0]["x"].tolist() == expected["satisfaction"].tolist()


@pytest.mark.parametrize(
    ("example", "analysis"),
    [
        ("ecsi_mobi", "loyalty_on_satisfaction"),
        ("bank", "loyalty_on_satisfaction"),
        ("corp_rep", "loyalty_on_satisfaction"),
    ],
)
def test_real_survey_examples(tmp_path, example, analysis):
    config = yaml.safe_load((REPO / "config" / "examples" / f"{example}.yaml").read_text())
    config["data"]["path"] = str(REPO / config["data"]["path"])
    config["analyses"][analysis]["segments"] = [1, 2, 3]
    config["analyses"][analysis]["n_init"] = 5
    config.update(QUICK)
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    first, second = tmp_path / "first", tmp_path / "second"
    for workdir in (first, second):
        workdir.mkdir()
        result = run_workflow(workdir, configfile)
        assert result.returncode == 0, result.stderr[-4000:]
    segments = pd.read_csv(first / "results" / analysis / "segments.csv")
    assert segments["std_error"].notna().all() and (segments["std_error"] > 0).all()
    assert (first / "results" / analysis / "figures" / "segment_scatter.png").exists()
    assert_problems_explained(first / "results", analysis, config["analyses"][analysis].get("criterion", "bic"))
    # same data, config and seed: every result file identical, on every example survey
    assert_same_results(first, second, at_least=30)


def assert_problems_explained(results: Path, analysis: str, criterion: str) -> None:
    """Every problem the run flagged is said where a reader looks first (results/warnings.md).

    A K passed over for its problems carries a choice note; a segment with problems is 'unreliable' and
    named in the warnings; a segment whose residual spread changes with a predictor is named too.
    """
    warnings_md = (results / "warnings.md").read_text(encoding="utf-8")
    base = results / analysis
    selection = pd.read_csv(base / "model_selection.csv", keep_default_na=False, na_values=[""])
    problems = selection["problems"].astype(object).fillna("").astype(str)
    chosen = selection.loc[selection["chosen"].astype(bool)].iloc[0]
    if criterion != "lr_test":
        passed_over = selection.loc[(problems != "") & (selection[criterion] < chosen[criterion]), "k"].tolist()
        if passed_over:
            note = str(chosen["choice_note"])
            assert note and note != "nan", f"K = {passed_over} passed over without a note"
            assert all(f"K = {k}" in note for k in passed_over), note
    segments = pd.read_csv(base / "segments.csv", keep_default_na=False, na_values=[""])
    flagged = segments.loc[segments["problems"].astype(object).fillna("").astype(str) != "", "segment"].unique()
    for segment in flagged:
        assert set(segments.loc[segments["segment"] == segment, "verdict"].dropna()) <= {"unreliable", ""}
        assert f"segment {segment} (" in warnings_md or "singular" in warnings_md
    spread = pd.read_csv(base / "residual_spread.csv")
    for segment in spread.loc[spread["spread_varies"].astype(bool), "segment"].unique():
        assert f"segment {segment}" in warnings_md.lower() and "residual spread" in warnings_md, (segment, warnings_md)


def test_survey_weights_and_robust_standard_errors(tmp_path):
    configfile = golf_config(tmp_path, n_members=300, analyses=(NAME,))
    survey = pd.read_csv(tmp_path / "survey.csv")
    # design weights: full members were oversampled, so they count less
    survey["weight"] = np.where(survey["membership_type"] == "Full", 0.6, 1.4)
    survey.to_csv(tmp_path / "survey.csv", index=False)
    config = yaml.safe_load(configfile.read_text())
    config["data"]["weight_column"] = "weight"
    config["analyses"]["repurchase_on_satisfaction"].update(segments=[1, 2, 3], cov_type="robust")
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_workflow(tmp_path, configfile)
    assert result.returncode == 0, result.stderr[-4000:]
    analysis = tmp_path / "results" / "repurchase_on_satisfaction"
    segments = pd.read_csv(analysis / "segments.csv")
    assert segments["std_error"].gt(0).all() and segments["estimate"].notna().all()
    clean = pd.read_csv(tmp_path / "results" / "cleaning" / "clean.csv")
    assert set(clean["weight"].unique()) == {0.6, 1.4}
    # a weighted share is the weighted mean of the posteriors, not the head count
    assignments = pd.read_csv(analysis / "assignments.csv", dtype={"respondent_id": str})
    merged = assignments.merge(clean.astype({"respondent_id": str}), on="respondent_id")
    weighted = np.average(merged["posterior_1"], weights=merged["weight"])
    share = segments.loc[segments["segment"] == 1, "share"].iloc[0]
    assert share == pytest.approx(weighted, abs=1e-4)
    assert abs(share - merged["posterior_1"].mean()) > 1e-3


def test_ordinal_and_count_outcomes_run_through_the_workflow(tmp_path):
    configfile = golf_config(tmp_path, n_members=300)
    config = yaml.safe_load(configfile.read_text())
    # an item measures one construct: the single-item 'renew' takes rep_renew out of 'repurchase'
    config["constructs"]["repurchase"]["items"].remove("rep_renew")
    config["constructs"]["renew"] = {"items": ["rep_renew"], "scale": [1, 7]}
    config["analyses"] = {
        "renew_ordinal": {"outcome": "renew", "predictors": ["satisfaction"], "family": "ordinal",
                          "segments": [1, 2], "n_init": 3},
        "rounds_poisson": {"outcome": "rounds_per_month", "predictors": ["satisfaction"], "family": "poisson",
                           "segments": [1, 2], "n_init": 3},
    }
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_workflow(tmp_path, configfile)
    assert result.returncode == 0, result.stderr[-4000:]
    results = tmp_path / "results"
    ordinal = pd.read_csv(results / "renew_ordinal" / "segments.csv")
    # no intercept: the thresholds take its place; lines are expected ratings on the 1-7 scale
    assert set(ordinal["term"]) == {"satisfaction"}
    lines = pd.read_csv(results / "renew_ordinal" / "fitted_lines.csv")
    assert lines["fit"].between(1, 7).all() and {"eta", "eta_lower", "eta_upper"} <= set(lines.columns)
    counts = pd.read_csv(results / "rounds_poisson" / "fitted_lines.csv")
    assert (counts["fit"] > 0).all()
    summary = (results / "rounds_poisson" / "summary.txt").read_text()
    assert "poisson log link" in summary
    captions = json.loads((results / "rounds_poisson" / "figures" / "captions_segments.json").read_text())
    assert "expected count" in json.dumps(captions)


def test_successes_out_of_trials_and_counts_over_an_exposure_run_through_the_workflow(tmp_path):
    configfile = golf_config(tmp_path, n_members=300)
    survey = pd.read_csv(tmp_path / "survey.csv")
    rng = np.random.default_rng(4)
    items = survey[["sat_course", "sat_greens", "sat_clubhouse", "sat_value"]].apply(pd.to_numeric, errors="coerce")
    satisfaction = items.mean(axis=1).fillna(4).to_numpy()
    survey["rounds_booked"] = rng.integers(1, 21, len(survey))
    chance = 1 / (1 + np.exp(-(-2.5 + 0.6 * satisfaction)))
    survey["rounds_played"] = rng.binomial(survey["rounds_booked"], chance)
    survey["months_member"] = rng.uniform(1, 36, len(survey)).round(1)
    survey["lessons"] = rng.poisson(survey["months_member"] * np.exp(-3 + 0.3 * satisfaction))
    survey.to_csv(tmp_path / "survey.csv", index=False)
    config = yaml.safe_load(configfile.read_text())
    config["analyses"] = {
        "played": {"outcome": "rounds_played", "predictors": ["satisfaction"], "family": "binomial",
                   "trials": "rounds_booked", "segments": [1, 2], "n_init": 3},
        "lessons": {"outcome": "lessons", "predictors": ["satisfaction"], "family": "poisson",
                    "exposure": "months_member", "segments": [1, 2], "n_init": 3},
    }
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_workflow(tmp_path, configfile)
    assert result.returncode == 0, result.stderr[-4000:]
    results = tmp_path / "results"
    clean = pd.read_csv(results / "cleaning" / "clean.csv")
    assert {"rounds_booked", "months_member"} <= set(clean.columns)
    played = pd.read_csv(results / "played" / "segments.csv")
    slope = played.loc[(played["segment"] == 1) & (played["term"] == "satisfaction"), "estimate"].iloc[0]
    assert slope == pytest.approx(0.6, abs=0.2)  # log odds per trial, not of "any success"
    lines = pd.read_csv(results / "played" / "fitted_lines.csv")
    assert lines["fit"].between(0, 1).all()
    captions = json.dumps(json.loads((results / "played" / "figures" / "captions_segments.json").read_text()))
    assert "share of rounds_booked" in captions and "probability of success per trial" in captions
    lessons = pd.read_csv(results / "lessons" / "segments.csv")
    slope = lessons.loc[(lessons["segment"] == 1) & (lessons["term"] == "satisfaction"), "estimate"].iloc[0]
    assert slope == pytest.approx(0.3, abs=0.15)
    captions = json.dumps(json.loads((results / "lessons" / "figures" / "captions_segments.json").read_text()))
    assert "lessons per unit of months_member" in captions


def test_a_chain_of_equations_runs_through_the_workflow_and_the_notebooks(tmp_path):
    configfile = golf_config(tmp_path, n_members=300)
    config = yaml.safe_load(configfile.read_text())
    config["analyses"] = {"chain": {
        "equations": [{"outcome": "trust", "predictors": ["satisfaction"]},
                      {"outcome": "repurchase", "predictors": ["satisfaction", "trust"]}],
        "segments": [1, 2], "n_init": 3}}
    config["report"] = {"notebooks": True, "figure_formats": []}
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_workflow(tmp_path, configfile)
    assert result.returncode == 0, result.stderr[-4000:]
    base = tmp_path / "results" / "chain"
    segments = pd.read_csv(base / "segments.csv")
    assert set(segments["equation"]) == {"trust", "repurchase"}
    assert set(segments.loc[segments["equation"] == "repurchase", "term"]) == {"(Intercept)", "satisfaction", "trust"}
    effects = pd.read_csv(base / "effects.csv")
    assert set(effects["kind"]) == {"path", "direct", "indirect", "total"}
    # issue 27: the constructs' slopes beside the scores' (measurement_error: correct, the default)
    assert effects["latent_estimate"].notna().all() and "latent_verdict" in segments
    assert effects[["boot_ci_low", "boot_ci_high"]].notna().all().all()  # the bootstrap ran (4 refits)
    # the verdicts read the corrected slopes, the scores' kept beside; the refits were corrected too
    corrected = effects.loc[effects["slope_basis"] == "corrected"]
    assert len(corrected) and (corrected["verdict"] == corrected["latent_verdict"]).all()
    assert "observed_verdict" in segments and effects["latent_boot_ci_low"].notna().any()
    assert "corrected for measurement error" in json.loads((base / "figures" / "captions_chain.json").read_text(
    ))["effects_forest"]["caption"]
    for _, rows in effects.groupby("segment"):
        by_kind = rows.set_index("kind")["estimate"]
        assert by_kind["total"] == pytest.approx(by_kind["direct"] + by_kind["indirect"])
    settings = json.loads((base / "analysis.json").read_text())
    assert [e["outcome"] for e in settings["equations"]] == ["trust", "repurchase"]
    captions = json.loads((base / "figures" / "captions_chain.json").read_text())
    assert set(captions) == {"path_diagram", "effects_forest"}
    assert (base / "figures" / "path_diagram.png").stat().st_size > 10_000
    lines = pd.read_csv(base / "fitted_lines.csv")
    assert set(lines["line"]) == {"equation", "total"}
    notebook = (tmp_path / "results" / "notebooks" / "02_segments.ipynb").read_text()
    assert "runs through trust" in notebook and "Traceback" not in notebook


def test_a_chain_with_a_cycle_or_a_stray_focal_stops_at_start_up(tmp_path):
    def mutate(config):
        config["analyses"] = {"chain": {
            "equations": [{"outcome": "repurchase", "predictors": ["satisfaction", "trust"]},
                          {"outcome": "trust", "predictors": ["satisfaction"]}],
            "focal": "satisfied"}}

    result = _bad_run(tmp_path, mutate)
    _assert_clean_failure(result, "analyses.chain.equations[0]", "the outcome of a later equation",
                          "analyses.chain.focal")


# ----------------------------------------------------------------------------- user mistakes


def _bad_run(tmp_path: Path, mutate) -> subprocess.CompletedProcess:
    configfile = golf_config(tmp_path, n_members=120, analyses=(NAME,))
    config = yaml.safe_load(configfile.read_text())
    mutate(config)
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    return run_workflow(tmp_path, configfile)


def _assert_clean_failure(result: subprocess.CompletedProcess, *needles: str) -> None:
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in out
    for needle in needles:
        assert needle in out, out[-2000:]


def test_mistyped_config_key(tmp_path):
    def mutate(c):
        c["analyses"]["repurchase_on_satisfaction"]["segmnts"] = c["analyses"]["repurchase_on_satisfaction"].pop(
            "segments"
        )

    result = _bad_run(tmp_path, mutate)
    _assert_clean_failure(result, "segmnts", "Did you mean 'segments'")
    assert not (tmp_path / "results").exists()


def test_missing_data_file(tmp_path):
    result = _bad_run(tmp_path, lambda c: c["data"].update(path="no_such_survey.csv"))
    _assert_clean_failure(result, "no_such_survey.csv", "data.path")
    assert not (tmp_path / "results").exists()


def test_unknown_item_column(tmp_path):
    result = _bad_run(tmp_path, lambda c: c["constructs"]["trust"]["items"].__setitem__(0, "trust_honset"))
    _assert_clean_failure(result, "trust_honset", "trust_honest")
    assert not (tmp_path / "results").exists()


def test_text_in_a_rating_column(tmp_path):
    configfile = golf_config(tmp_path, n_members=120, analyses=(NAME,))
    survey = pd.read_csv(tmp_path / "survey.csv", dtype=str)
    survey.loc[[3, 7], "sat_greens"] = "very good"
    survey.to_csv(tmp_path / "survey.csv", index=False)
    result = run_workflow(tmp_path, configfile)
    _assert_clean_failure(result, "sat_greens", "very good")
    assert not (tmp_path / "results" / "cleaning" / "clean.csv").exists()


def test_a_binomial_family_for_a_rating_score_stops_at_start_up(tmp_path):
    def binomial(c):
        c["analyses"]["repurchase_on_satisfaction"]["family"] = "binomial"

    result = _bad_run(tmp_path, binomial)
    _assert_clean_failure(result, "analysis 'repurchase_on_satisfaction' fits its outcome as binomial",
                          "column 'repurchase'")
    assert not (tmp_path / "results").exists()


def test_too_few_respondents_for_the_segments(tmp_path):
    configfile = golf_config(tmp_path, n_members=40, analyses=(NAME,))
    config = yaml.safe_load(configfile.read_text())
    config["analyses"]["repurchase_on_satisfaction"]["segments"] = [1, 12]
    config["cleaning"]["flagged_action"] = "keep"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_workflow(tmp_path, configfile)
    _assert_clean_failure(result, "12 segments", "analyses.repurchase_on_satisfaction.segments")
    assert not (tmp_path / "results" / "repurchase_on_satisfaction" / "fits" / "k12.json").exists()


def test_snakemake_lint_is_clean():
    # CI runs `snakemake --lint` too; a lint finding there should fail here first
    result = subprocess.run([SNAKEMAKE, "--lint"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]


def test_exports_merge_back_into_the_survey_and_the_workbook_holds_every_table(golf_run):
    """The golf run's exports: the survey's own ids, the run's segments with their names, and every table."""
    import openpyxl
    import pyreadstat

    results = golf_run / "results"
    survey_ids = set(pd.read_csv(golf_run / "survey.csv", dtype={"respondent_id": str})["respondent_id"])
    for name in (NAME, CHAIN):
        assignments = pd.read_csv(results / name / "assignments.csv", dtype={"respondent_id": str})
        names = pd.read_csv(results / name / "segments.csv").groupby("segment")["name"].first().to_dict()
        exported, meta = pyreadstat.read_sav(results / name / "export" / f"{name}_segments.sav")
        assert set(exported["respondent_id"]) <= survey_ids  # keyed as in the survey file: merges back
        assert list(exported["respondent_id"]) == list(assignments["respondent_id"])
        assert list(exported["segment"].astype(int)) == list(assignments["segment"])
        assert {int(k): v for k, v in meta.variable_value_labels["segment"].items()} == names
        stata, _ = pyreadstat.read_dta(results / name / "export" / f"{name}_segments.dta")
        assert list(stata["segment_name"]) == [names[s] for s in assignments["segment"]]
    analysis = json.loads((results / NAME / "analysis.json").read_text())
    assert analysis["provenance"]["seed"] == 2010 and len(analysis["provenance"]["config_sha256"]) == 64
    assert analysis["provenance"]["data_file"] == "survey.csv"
    sheets = openpyxl.load_workbook(results / "tables.xlsx").sheetnames
    tables = [p for p in results.rglob("*.md") if p.with_suffix(".csv").is_file()]  # what write_table wrote
    assert len(sheets) == len(tables) + 1, (sheets, tables)  # a sheet per table, and the contents

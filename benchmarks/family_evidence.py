"""Gaussian or censored for construct scores on a bounded scale: the workflow run both ways on four surveys (issue 12).

    python benchmarks/family_evidence.py [--work /tmp/family_evidence] [--cores 2] [--n-init N]
                                         [--datasets golf ecsi_mobi bank corp_rep] [--families gaussian censored]
                                         [--snakemake PATH] [--output FILE]

For each example config (``DATASETS``: the bundled golf survey and the three
real surveys of ``config/examples/``) and each family, the script writes a
copy of the config into ``WORK/<dataset>/<family>/config.yaml`` with
``family: <family>`` added to every analysis (and ``n_init: N`` with
``--n-init``, to check that more starts find no better optimum) and the data
path made absolute, then runs the workflow there::

    nice -n 10 snakemake results/cleaning/clean.csv results/<analysis>/model_selection.csv
        results/<analysis>/segments.csv -s REPO/Snakefile --configfile WORK/<dataset>/<family>/config.yaml
        --directory WORK/<dataset>/<family> --cores 2
        --config 'bootstrap={replicates: 0, lr_test_replicates: 0}' 'report={notebooks: false}'

(the family goes into the copied config, not ``--config``, because a
``--config analyses=...`` override replaces the whole ``analyses`` mapping).
A chain analysis (``equations:`` instead of ``outcome`` and ``predictors``,
such as golf's ``trust_chain``) is skipped: its outputs are neither built nor
read, and the report names it, because the comparison is of the families for
one outcome score.
Only those targets are built, so no figures, notebooks or report; the
bootstrap is off because only the fits, the choice of K and the segments of
the chosen K are compared.  Snakemake's output goes to
``WORK/<dataset>/<family>/snakemake.log``; a failed run prints its tail and the
logs of the rules that failed, and is reported as failed.  A rerun finds the
finished outputs and runs nothing.

From each run it reads, per single-equation analysis,
``results/<analysis>/model_selection.csv`` (per K: log-likelihood, BIC,
problems, chosen), ``results/<analysis>/segments.csv`` (per segment of the
chosen K: name, share, focal slope with its confidence interval, verdict,
sigma, problems; with ``assignments.csv``, each segment's posterior-weighted
mean outcome and share at each bound) and
``results/cleaning/clean.csv`` (the share of respondents whose outcome score
sits at each bound of its scale, the same for both families), and loads every
fitted K from ``results/<analysis>/fits/`` to describe all its segments, the
flagged ones too.  It prints the exact commands and a Markdown report to
standard output (and to ``--output`` when given).  The seconds reported are the
wall time of this invocation's runs: on a rerun with finished outputs, only
Snakemake's start-up.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parent.parent
DATASETS = {
    "golf": REPO / "config" / "config.yaml",
    "ecsi_mobi": REPO / "config" / "examples" / "ecsi_mobi.yaml",
    "bank": REPO / "config" / "examples" / "bank.yaml",
    "corp_rep": REPO / "config" / "examples" / "corp_rep.yaml",
}
FAMILIES = ("gaussian", "censored")
CONFIG_OVERRIDES = ("bootstrap={replicates: 0, lr_test_replicates: 0}", "report={notebooks: false}")


def family_config(config_path: Path, family: str, n_init: int | None = None) -> dict:
    """The config of ``config_path`` with ``family`` (and ``n_init``, when given) on every analysis and an absolute
    data path."""
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    data_path = Path(config["data"]["path"])
    if not data_path.is_absolute():
        # the example configs name their data relative to the repository root, where they are run from
        data_path = REPO / data_path
    config["data"]["path"] = str(data_path)
    for analysis in config["analyses"].values():
        analysis["family"] = family
        if n_init is not None:
            analysis["n_init"] = n_init
    return config


def single_equation_analyses(config: dict) -> dict:
    """The analyses with one outcome and its predictors; chains (``equations:``) have no single outcome score."""
    return {name: analysis for name, analysis in config["analyses"].items() if "equations" not in analysis}


def targets(config: dict) -> list[str]:
    out = ["results/cleaning/clean.csv"]
    for name in single_equation_analyses(config):
        out += [f"results/{name}/model_selection.csv", f"results/{name}/segments.csv"]
    return out


def snakemake_command(snakemake: str, run_dir: Path, config: dict, cores: int) -> list[str]:
    # the targets come before --config, which takes every word after it as a KEY=VALUE override
    return ["nice", "-n", "10", snakemake, *targets(config), "-s", str(REPO / "Snakefile"),
            "--configfile", str(run_dir / "config.yaml"), "--directory", str(run_dir), "--cores", str(cores),
            "--config", *CONFIG_OVERRIDES]


def run_workflow(snakemake: str, run_dir: Path, config: dict, cores: int) -> dict:
    """Write the config copy, run the workflow on it; the command, exit code, seconds and start-up warnings."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True),
                                         encoding="utf-8")
    command = snakemake_command(snakemake, run_dir, config, cores)
    print("$ " + shlex.join(command), file=sys.stderr, flush=True)
    log_path = run_dir / "snakemake.log"
    started = time.perf_counter()
    with log_path.open("w", encoding="utf-8") as log:
        returncode = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO).returncode
    seconds = time.perf_counter() - started
    log_text = log_path.read_text(encoding="utf-8", errors="replace")
    if returncode != 0:
        print(f"FAILED (exit {returncode}): {run_dir}; last lines of {log_path}:", file=sys.stderr)
        print("\n".join(log_text.splitlines()[-40:]), file=sys.stderr)
        for rule_log in sorted((run_dir / "logs").rglob("*.log")):
            text = rule_log.read_text(encoding="utf-8", errors="replace")
            if "Traceback" in text or "Error" in text:
                print(f"--- {rule_log}\n" + "\n".join(text.splitlines()[-30:]), file=sys.stderr)
    warnings = sorted({line.strip() for line in log_text.splitlines() if line.startswith("trustseg: warning")})
    return {"command": command, "returncode": returncode, "seconds": seconds, "warnings": warnings}


def bound_shares(run_dir: Path, config: dict, outcome: str) -> dict:
    """Respondents, the share whose outcome score is at the scale's lowest and highest value, and the share within
    one point below the highest."""
    clean = pd.read_csv(run_dir / "results" / "cleaning" / "clean.csv")
    y = pd.to_numeric(clean[outcome], errors="coerce").dropna().to_numpy(dtype=float)
    spec = config["constructs"].get(outcome)
    low, high = (float(v) for v in spec["scale"]) if spec else (float(y.min()), float(y.max()))
    at_high = np.isclose(y, high)
    # a mean of items just under the top (one item a point short, say) is not censored, though close to it
    return {"n": len(y), "scale": (low, high), "items": len(spec["items"]) if spec else 1,
            "at_low": float(np.isclose(y, low).mean()), "at_high": float(at_high.mean()),
            "near_high": float(((y >= high - 1.0) & ~at_high).mean())}


def focal_of(config: dict, name: str) -> str:
    analysis = config["analyses"][name]
    return analysis.get("focal") or analysis["predictors"][0]


def _text(value) -> str:
    return "" if pd.isna(value) else str(value)


def model_selection_rows(run_dir: Path, name: str) -> pd.DataFrame:
    table = pd.read_csv(run_dir / "results" / name / "model_selection.csv")
    table["problems"] = table["problems"].map(_text)
    table["chosen"] = table["chosen"].astype(str).str.lower().isin(["true", "1"])
    return table


def chosen_segments(run_dir: Path, name: str, focal: str, outcome: str, scale: tuple[float, float]) -> pd.DataFrame:
    """The focal-slope rows of segments.csv, with each segment's mean outcome and share at each scale bound.

    The mean and the bound shares are weighted by the posterior probabilities
    of assignments.csv (unweighted by survey weights: none of the examples has
    any): they say whether a segment is made of the respondents at a bound.
    """
    table = pd.read_csv(run_dir / "results" / name / "segments.csv")
    table = table.loc[table["term"] == focal].copy()
    table["problems"] = table["problems"].map(_text)
    clean = pd.read_csv(run_dir / "results" / "cleaning" / "clean.csv", usecols=["respondent_id", outcome],
                        dtype={"respondent_id": str})
    posteriors = pd.read_csv(run_dir / "results" / name / "assignments.csv", dtype={"respondent_id": str})
    merged = posteriors.merge(clean, on="respondent_id", how="inner")
    y = pd.to_numeric(merged[outcome], errors="coerce").to_numpy(dtype=float)
    for column, values in (("mean_outcome", y), ("at_low", np.isclose(y, scale[0])),
                           ("at_high", np.isclose(y, scale[1]))):
        table[column] = [float(np.average(values, weights=merged[f"posterior_{int(k)}"]))
                         for k in table["segment"]]
    return table


def fitted_solutions(run_dir: Path, name: str, analysis: dict, scale: tuple[float, float]) -> dict[int, str]:
    """Every fitted K in one line: per segment its share, focal slope, sigma, mean outcome and share at the top.

    Read from ``results/<analysis>/fits/k<K>.json`` with the posteriors on
    the analysis's data, so the segments of the K that were not chosen (the
    flagged ones in particular) can be seen too: a segment whose weight sits
    mostly at a bound is the scale's ceiling or floor, not a group of customers.
    """
    from trustseg.stages.common import analysis_data, read_clean
    from trustseg.stages.fits import load_model

    clean = read_clean(run_dir / "results" / "cleaning" / "clean.csv")
    X, y, _, _, _ = analysis_data(clean, analysis["outcome"], analysis["predictors"], name,
                                  None)  # none of the examples has survey weights
    y = y.to_numpy(dtype=float)
    out = {}
    for path in sorted((run_dir / "results" / name / "fits").glob("k*.json")):
        model = load_model(path)
        posterior = model.predict_proba(X, y)
        mass = posterior.sum(axis=0)
        mean = (y @ posterior) / mass
        at_high = (np.isclose(y, scale[1]) @ posterior) / mass
        at_low = (np.isclose(y, scale[0]) @ posterior) / mass
        focal = model.coef_[:, model.focal_index_]
        order = np.argsort(-model.weights_)
        out[int(path.stem[1:])] = "; ".join(
            f"{model.weights_[j]:.0%} slope {focal[j]:.2f} sigma {model.sigma_[j]:.2f} mean {mean[j]:.2f} "
            f"top {at_high[j]:.0%}" + (f" bottom {at_low[j]:.0%}" if at_low[j] >= 0.005 else "")
            for j in order)
    return out


def _bic_best(selection: pd.DataFrame) -> int:
    return int(selection.loc[selection["bic"].idxmin(), "k"])


def report(results: list[dict]) -> str:
    """The Markdown report: a summary table, then per data set the criteria by K and the chosen segments."""
    lines = ["# Gaussian or censored outcome: the workflow on four surveys", ""]
    lines += ["## Commands", "", "```"]
    lines += [shlex.join(r["run"]["command"]) for r in results]
    lines += ["```", "", "## Summary", "",
              "| data set | analysis | n | outcome (items, scale) | at lowest | at highest | within 1 below highest | "
              "family | K chosen | "
              "lowest-BIC K | K with problems | seconds | exit |",
              "|---|---|---:|---|---:|---:|---:|---|---:|---:|---|---:|---:|"]
    for r in results:
        for name, a in r["analyses"].items():
            b = a["bounds"]
            flagged = ", ".join(f"{int(row.k)} ({row.problems})" for row in a["selection"].itertuples()
                                if row.problems) or "none"
            chosen = a["selection"].loc[a["selection"]["chosen"], "k"]
            lines.append(
                f"| {r['dataset']} | {name} | {b['n']} | {a['outcome']} ({b['items']}, {b['scale'][0]:g}-"
                f"{b['scale'][1]:g}) | {b['at_low']:.1%} | {b['at_high']:.1%} | {b['near_high']:.1%} | {r['family']} | "
                f"{int(chosen.iloc[0]) if len(chosen) else 'none'} | {_bic_best(a['selection'])} | {flagged} | "
                f"{r['run']['seconds']:.0f} | {r['run']['returncode']} |")
    skipped = {f"{name} ({r['dataset']})": None for r in results for name in r["skipped"]}
    if skipped:
        lines += ["", "Skipped: " + ", ".join(skipped) + ". A chain of equations (`equations:`) has no single "
                  "outcome score, and the families are compared here for one outcome score."]
    by_dataset: dict[str, list[dict]] = {}
    for r in results:
        by_dataset.setdefault(r["dataset"], []).append(r)
    for dataset, runs in by_dataset.items():
        lines += ["", f"## {dataset}", ""]
        for name in runs[0]["analyses"]:
            families = [r["family"] for r in runs if name in r["analyses"]]
            ks = sorted(set().union(*(set(r["analyses"][name]["selection"]["k"]) for r in runs
                                      if name in r["analyses"])))
            lines += [f"### {name}: criteria by K", "",
                      "| K | " + " | ".join(f"{f} loglik | {f} BIC | {f} best starts | {f} problems"
                                            for f in families) + " |",
                      "|---:|" + "---:|---:|---:|---|" * len(families)]
            for k in ks:
                cells = []
                for r in runs:
                    if name not in r["analyses"]:
                        continue
                    sel = r["analyses"][name]["selection"]
                    row = sel.loc[sel["k"] == k]
                    if row.empty:
                        cells += ["", "", "", ""]
                        continue
                    row = row.iloc[0]
                    mark = " **chosen**" if row["chosen"] else ""
                    # starts that reached the best solution; "not replicated": only one seed stream found it
                    replicated = "" if str(row["optimum_replicated"]).lower() in ("true", "1") else " not replicated"
                    cells += [f"{row['loglik']:.2f}", f"{row['bic']:.2f}{mark}",
                              f"{row['n_best_starts']}/{row['n_starts']}{replicated}", row["problems"] or "-"]
                lines.append(f"| {k} | " + " | ".join(cells) + " |")
            lines += ["", f"### {name}: every fitted K, segments by share (focal slope, sigma, mean outcome, "
                          "posterior-weighted share at the top and bottom of the scale)", "",
                      "| K | family | segments |", "|---:|---|---|"]
            for k in ks:
                for r in runs:
                    if name in r["analyses"] and k in r["analyses"][name]["solutions"]:
                        lines.append(f"| {k} | {r['family']} | {r['analyses'][name]['solutions'][k]} |")
            for r in runs:
                if name not in r["analyses"]:
                    continue
                a = r["analyses"][name]
                lines += ["", f"### {name}, {r['family']}: segments of the chosen K ({a['focal']} slope)", "",
                          "| segment | name | share | slope | CI | verdict | sigma | mean outcome | at lowest | "
                          "at highest | problems |",
                          "|---:|---|---:|---:|---|---|---:|---:|---:|---:|---|"]
                for s in a["segments"].itertuples():
                    lines.append(f"| {s.segment} | {s.name} | {s.share:.1%} | {s.estimate:.3f} | "
                                 f"[{s.ci_low:.3f}, {s.ci_high:.3f}] | {s.verdict} | {s.sigma:.3f} | "
                                 f"{s.mean_outcome:.2f} | {s.at_low:.0%} | {s.at_high:.0%} | {s.problems or '-'} |")
                notes = a["selection"].loc[a["selection"]["chosen"], "choice_note"].map(_text)
                if len(notes) and notes.iloc[0]:
                    lines += ["", f"Choice note: {notes.iloc[0]}"]
            lines.append("")
    warnings = sorted({w for r in results for w in r["run"]["warnings"]})
    if warnings:
        lines += ["## Start-up warnings", ""] + [f"* {w}" for w in warnings]
    total = sum(r["run"]["seconds"] for r in results)
    lines += ["", f"Total wall time of the runs: {total:.0f} s."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/family_evidence"))
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--n-init", type=int, help="starts per K for every analysis (default: the config's)")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--snakemake", default=str(Path(sys.executable).parent / "snakemake"),
                        help="the snakemake executable (default: the one beside this Python)")
    parser.add_argument("--output", type=Path, help="also write the Markdown report here")
    args = parser.parse_args(argv)

    results = []
    for dataset in args.datasets:
        for family in args.families:
            config = family_config(DATASETS[dataset], family, args.n_init)
            run_dir = args.work.resolve() / dataset / family
            run = run_workflow(args.snakemake, run_dir, config, args.cores)
            record = {"dataset": dataset, "family": family, "run": run, "analyses": {},
                      "skipped": [name for name in config["analyses"] if name not in single_equation_analyses(config)]}
            if run["returncode"] == 0:
                for name, analysis in single_equation_analyses(config).items():
                    focal = focal_of(config, name)
                    record["analyses"][name] = {
                        "outcome": analysis["outcome"], "focal": focal,
                        "bounds": bound_shares(run_dir, config, analysis["outcome"]),
                        "selection": model_selection_rows(run_dir, name),
                        "solutions": fitted_solutions(run_dir, name, analysis,
                                                      bound_shares(run_dir, config, analysis["outcome"])["scale"]),
                        "segments": chosen_segments(run_dir, name, focal, analysis["outcome"],
                                                    bound_shares(run_dir, config, analysis["outcome"])["scale"]),
                    }
            print(f"{dataset}/{family}: exit {run['returncode']}, {run['seconds']:.0f} s", file=sys.stderr,
                  flush=True)
            results.append(record)
    text = report(results)
    print(text)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    failed = [f"{r['dataset']}/{r['family']}" for r in results if r["run"]["returncode"] != 0]
    if failed:
        print("failed runs: " + ", ".join(failed), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

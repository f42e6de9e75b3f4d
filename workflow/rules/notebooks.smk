# Stage 6: execute the narrative notebooks on this run's results.
# They read results/ through trustseg.results and fit nothing.

NOTEBOOKS = {
    "01_data_and_cleaning": "Data and cleaning",
    "02_segments": "The segments and what they mean",
    "03_profiles_and_managerial_reading": "Who the segments are, and what to do",
}


def notebook_targets():
    return expand("results/notebooks/{notebook}.html", notebook=NOTEBOOKS)


def notebook_inputs(wildcards):
    inputs = ["results/cleaning/clean.csv", "results/cleaning/report.csv", "results/cleaning/reliability.csv",
              "results/figures/cleaning_summary.png"]
    if wildcards.notebook != "01_data_and_cleaning":
        for name in ANALYSES:
            inputs += [f"results/{name}/model_selection.csv", f"results/{name}/segments.csv",
                       f"results/{name}/tests.csv", f"results/{name}/classification.csv", *figure_targets(name)]
            if BOOT["replicates"] > 0:
                inputs.append(f"results/{name}/bootstrap.csv")
            if config["profile"]:
                inputs += [f"results/{name}/profiles.csv", f"results/{name}/membership.csv"]
    return inputs


rule notebook:
    wildcard_constraints:
        notebook="|".join(NOTEBOOKS),
    message:
        "Executing notebook {wildcards.notebook}"
    input:
        template=str(Path(workflow.basedir) / "notebooks" / "{notebook}.ipynb"),
        results=notebook_inputs,
        code=sources("notebooks", "results"),
    output:
        ipynb="results/notebooks/{notebook}.ipynb",
        html=report(
            "results/notebooks/{notebook}.html",
            caption="../report/notebook.rst",
            category="7. Notebooks",
        ),
    params:
        parameters=lambda w: {"RESULTS_DIR": "results", "ANALYSES": ANALYSES, "CONFIG_SOURCE": CONFIG_SOURCE},
    log:
        "logs/notebooks/{notebook}.log",
    script:
        "../scripts/notebook.py"

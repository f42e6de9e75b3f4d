# Stage 6: execute the narrative notebooks on this run's results.
# They read results/ through trustseg.report.results and fit nothing.

rule notebook:
    wildcard_constraints:
        notebook="|".join(NOTEBOOKS),
    message:
        "Executing notebook {wildcards.notebook}"
    input:
        template=str(Path(workflow.basedir) / "notebooks" / "{notebook}.ipynb"),
        results=notebook_inputs,
        code=sources("report.notebooks", "report.results", "report.sentences", "report.advice", "report.warnings_report",
                     "stages.common"),
    output:
        ipynb="results/notebooks/{notebook}.ipynb",
        html=report(
            "results/notebooks/{notebook}.html",
            caption="../report/notebook.rst",
            labels={"result": "{notebook}"},
            category="6. Notebooks",
        ),
    params:
        # The config file relative to the working directory (where the notebooks run) when inside it:
        # Snakemake holds --configfile as an absolute path, which would put the user's home folder
        # into the notebooks and make two runs of the same command in two folders differ.
        parameters=lambda w: {"RESULTS_DIR": "results", "ANALYSES": ANALYSES, "CONFIG_SOURCE": _shown(CONFIG_SOURCE)},
    conda:
        "../envs/trustseg.yaml"
    log:
        "logs/notebooks/{notebook}.log",
    script:
        "../scripts/execute_notebook.py"

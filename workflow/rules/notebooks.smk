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
        code=sources("report.notebooks", "report.results", "stages.common"),
    output:
        ipynb="results/notebooks/{notebook}.ipynb",
        html=report(
            "results/notebooks/{notebook}.html",
            caption="../report/notebook.rst",
            category="7. Notebooks",
        ),
    params:
        parameters=lambda w: {"RESULTS_DIR": "results", "ANALYSES": ANALYSES, "CONFIG_SOURCE": CONFIG_SOURCE},
    conda:
        "../envs/trustseg.yaml"
    log:
        "logs/notebooks/{notebook}.log",
    script:
        "../scripts/execute_notebook.py"

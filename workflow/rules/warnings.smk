# Stage 7: the run's warnings, read first: cleaning losses and flags, problems of
# the chosen solutions, LR tests at their floor or at odds with the criterion,
# failed residual-spread tests.  The same sentences open each notebook; here
# they become results/warnings.md and the first page of the HTML report.


rule run_warnings:
    message:
        "Gathering the run's warnings"
    input:
        results=warnings_inputs,
        code=sources("report.warnings_report"),
    output:
        md="results/warnings.md",
        # "0. Read first" sorts before every other category in the report's menu
        html=report("results/warnings.html", caption="../report/warnings.rst", category="0. Read first",
                     labels={"result": "1 warnings"}),
    params:
        analyses=ANALYSES,
    conda:
        "../envs/trustseg.yaml"
    log:
        "logs/warnings.log",
    script:
        "../scripts/run_warnings.py"

# Stage 3: the chosen segmentation: standard errors, verdicts, names, assignments
# and classification quality of the K chosen by select_k.


rule segments:
    message:
        "Estimating standard errors and verdicts for analysis {wildcards.analysis}"
    input:
        clean="results/cleaning/clean.csv",
        fit=chosen_fit,
        code=sources("stages.segments"),
    output:
        segments=report(
            "results/{analysis}/segments.csv",
            caption="../report/segments.rst",
            category="3. Segments",
            subcategory="{analysis}",
        ),
        segments_md="results/{analysis}/segments.md",
        segments_tex="results/{analysis}/segments.tex",
        tests=report(
            "results/{analysis}/tests.csv",
            caption="../report/tests.rst",
            category="3. Segments",
            subcategory="{analysis}",
        ),
        tests_md="results/{analysis}/tests.md",
        tests_tex="results/{analysis}/tests.tex",
        assignments="results/{analysis}/assignments.csv",
        classification=report(
            "results/{analysis}/classification.csv",
            caption="../report/classification.rst",
            category="3. Segments",
            subcategory="{analysis}",
        ),
        classification_md="results/{analysis}/classification.md",
        classification_tex="results/{analysis}/classification.tex",
        covariance="results/{analysis}/covariance.csv",
        summary="results/{analysis}/summary.txt",
        summary_md="results/{analysis}/summary.md",
        summary_tex="results/{analysis}/summary.tex",
    params:
        analysis=lambda w: analysis_cfg(w.analysis),
        weight_column=WEIGHT,
        scale=lambda w: outcome_scale(w.analysis),
    conda:
        "../envs/trustseg.yaml"
    log:
        "logs/{analysis}/segments.log",
    script:
        "../scripts/segments.py"

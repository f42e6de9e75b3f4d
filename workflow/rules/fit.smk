# Stage 2: fit the clusterwise regression for every candidate K (one job each),
# choose K, and describe the chosen segments.

ANALYSIS_CONSTRAINT = "[A-Za-z0-9_-]+"


wildcard_constraints:
    analysis=ANALYSIS_CONSTRAINT,
    k=r"\d+",
    chunk=r"\d+",


rule fit_k:
    message:
        "Fitting {wildcards.k} segments for analysis {wildcards.analysis}"
    input:
        clean="results/cleaning/clean.csv",
        code=sources("mixture", "inference"),
    output:
        "results/{analysis}/fits/k{k}.json",
    params:
        analysis=lambda w: analysis_cfg(w.analysis),
        seed=SEED,
        weight_column=WEIGHT,
        rounding_variance=lambda w: outcome_rounding_variance(analysis_cfg(w.analysis), config["constructs"]),
    conda:
        "../envs/trustseg.yaml"
    log:
        "logs/{analysis}/fit_k{k}.log",
    script:
        "../scripts/fit_k.py"


checkpoint select_k:
    message:
        "Choosing the number of segments for analysis {wildcards.analysis}"
    input:
        clean="results/cleaning/clean.csv",
        fits=lambda w: expand(
            "results/{analysis}/fits/k{k}.json", analysis=w.analysis, k=analysis_cfg(w.analysis)["segments"]
        ),
        code=sources("mixture", "selection"),
    output:
        criteria="results/{analysis}/criteria.csv",
        starts=report(
            "results/{analysis}/start_logliks.csv",
            caption="../report/start_logliks.rst",
            category="2. Number of segments",
            subcategory="{analysis}",
        ),
    params:
        analysis=lambda w: analysis_cfg(w.analysis),
        weight_column=WEIGHT,
    conda:
        "../envs/trustseg.yaml"
    log:
        "logs/{analysis}/select_k.log",
    script:
        "../scripts/select_k.py"


rule segments:
    message:
        "Estimating standard errors and verdicts for analysis {wildcards.analysis}"
    input:
        clean="results/cleaning/clean.csv",
        fit=chosen_fit,
        code=sources("mixture", "inference", "classification", "naming"),
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

# Stage 2: fit the clusterwise regression for every candidate K (one job each)
# and choose K (with criterion lr_test, after the LR tests of evidence.smk).

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
        code=analysis_sources("stages.fit"),
    output:
        "results/{analysis}/fits/k{k}.json",
    params:
        outcome=setting("outcome"),
        predictors=setting("predictors"),
        focal=setting("focal"),
        higher_is=setting("higher_is"),
        expected=setting("expected"),
        method=setting("method"),
        n_init=setting("n_init"),
        min_share=setting("min_share"),
        seed=SEED,
        weight_column=WEIGHT,
        family_columns=family_columns,
        equations=setting("equations"),
        rounding_variance=rounding_variance,
        family=outcome_family,
        spread=setting("spread"),
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
            "results/{analysis}/fits/k{k}.json", analysis=w.analysis, k=analysis_settings(w.analysis)["segments"]
        ),
        # only when K is chosen by the LR test: then every K against K + 1 is tested before K is chosen
        lr=lambda w: expand("results/{analysis}/lr_test/k{k}.json", analysis=w.analysis, k=lr_choice_ks(w)),
        code=analysis_sources("stages.fit"),
    output:
        criteria="results/{analysis}/criteria.csv",
        starts=report(
            "results/{analysis}/start_logliks.csv",
            caption="../report/start_logliks.rst",
            labels={"result": "3 starts (table)"},
            category="2. Number of segments",
            subcategory="{analysis}",
        ),
        # the chosen fit beside a set-aside group (or {"model": null}), and the criteria of every such fit
        set_aside_fit="results/{analysis}/fits/set_aside.json",
        set_aside_table="results/{analysis}/set_aside_fits.csv",
    params:
        outcome=setting("outcome"),
        predictors=setting("predictors"),
        criterion=setting("criterion"),
        set_aside=setting("set_aside"),
        weight_column=WEIGHT,
        family_columns=family_columns,
        equations=setting("equations"),
        allow_flagged=setting("allow_flagged"),
        # alpha only matters to the LR test: a new alpha chooses K again only then
        alpha=lambda w: analysis_settings(w.analysis)["alpha"] if chooses_by_lr_test(w.analysis) else None,
    conda:
        "../envs/trustseg.yaml"
    log:
        "logs/{analysis}/select_k.log",
    script:
        "../scripts/select_k.py"

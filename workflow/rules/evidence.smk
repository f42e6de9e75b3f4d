# Stage 3: evidence that the segments are real.
#   - parametric bootstrap likelihood-ratio tests of K against K+1 (one job per K),
#   - nonparametric bootstrap refits in chunks (one job per chunk), then a merge.


rule lr_test:
    message:
        "Bootstrap likelihood-ratio test of {wildcards.k} against more segments, analysis {wildcards.analysis}"
    input:
        clean="results/cleaning/clean.csv",
        fit_k="results/{analysis}/fits/k{k}.json",
        fit_k1=lambda w: f"results/{w.analysis}/fits/k{int(w.k) + 1}.json",
        code=analysis_sources("stages.evidence"),
    output:
        "results/{analysis}/lr_test/k{k}.json",
    params:
        outcome=setting("outcome"),
        predictors=setting("predictors"),
        weight_column=WEIGHT,
        family_columns=family_columns,
        equations=setting("equations"),
        n_replicates=BOOT["lr_test_replicates"],
        n_init=BOOT["n_init"],
        seed=SEED,
    conda:
        "../envs/trustseg.yaml"
    log:
        "logs/{analysis}/lr_test_k{k}.log",
    script:
        "../scripts/lr_test.py"


rule model_selection:
    message:
        "Tabulating the choice of the number of segments, analysis {wildcards.analysis}"
    input:
        criteria="results/{analysis}/criteria.csv",
        lr=lambda w: expand("results/{analysis}/lr_test/k{k}.json", analysis=w.analysis, k=lr_tested_ks(w)),
        code=analysis_sources("stages.evidence"),
    output:
        table=report(
            "results/{analysis}/model_selection.csv",
            caption="../report/model_selection.rst",
            labels={"result": "1 model selection (table)"},
            category="2. Number of segments",
            subcategory="{analysis}",
        ),
        table_md="results/{analysis}/model_selection.md",
        table_tex="results/{analysis}/model_selection.tex",
    params:
        criterion=setting("criterion"),
    conda:
        "../envs/trustseg.yaml"
    log:
        "logs/{analysis}/model_selection.log",
    script:
        "../scripts/model_selection.py"


rule bootstrap_chunk:
    message:
        "Bootstrap refits, chunk {wildcards.chunk}, analysis {wildcards.analysis}"
    input:
        clean="results/cleaning/clean.csv",
        fit=chosen_fit,
        # each refit recomputes the reliabilities on its resample and corrects its slopes (measurement_error)
        reliability="results/cleaning/reliability.csv",
        code=analysis_sources("stages.evidence"),
    output:
        # kept (not temp): then a new alpha or new segment names re-summarise the refits instead of redoing them
        "results/{analysis}/bootstrap/chunk{chunk}.csv",
    params:
        outcome=setting("outcome"),
        predictors=setting("predictors"),
        weight_column=WEIGHT,
        family_columns=family_columns,
        equations=setting("equations"),
        replicates=BOOT["replicates"],
        n_chunks=BOOT["chunks"],
        n_init=BOOT["n_init"],
        seed=SEED,
        measurement_error=setting("measurement_error"),
    conda:
        "../envs/trustseg.yaml"
    log:
        "logs/{analysis}/bootstrap_chunk{chunk}.log",
    script:
        "../scripts/bootstrap_chunk.py"


rule bootstrap_merge:
    message:
        "Summarising the bootstrap, analysis {wildcards.analysis}"
    input:
        chunks=expand("results/{{analysis}}/bootstrap/chunk{chunk}.csv", chunk=range(BOOT["chunks"])),
        segments="results/{analysis}/segments.csv",
        code=analysis_sources("stages.evidence"),
    output:
        summary=report(
            "results/{analysis}/bootstrap.csv",
            caption="../report/bootstrap.rst",
            labels={"result": "1 bootstrap intervals (table)"},
            category="4. Stability",
            subcategory="{analysis}",
        ),
        summary_md="results/{analysis}/bootstrap.md",
        summary_tex="results/{analysis}/bootstrap.tex",
        replicates="results/{analysis}/bootstrap_replicates.csv",
        ari="results/{analysis}/bootstrap_ari.csv",
        ari_md="results/{analysis}/bootstrap_ari.md",
        ari_tex="results/{analysis}/bootstrap_ari.tex",
    params:
        alpha=setting("alpha"),
    conda:
        "../envs/trustseg.yaml"
    log:
        "logs/{analysis}/bootstrap_merge.log",
    script:
        "../scripts/bootstrap_merge.py"

# Stage 3: the chosen segmentation: standard errors, verdicts, names, problems,
# residual spread, assignments and classification quality of the K chosen by
# select_k, and the analysis's
# settings with the chosen K in results/<analysis>/analysis.json (read by the notebooks).


rule segments:
    message:
        "Estimating standard errors and verdicts for analysis {wildcards.analysis}"
    input:
        clean="results/cleaning/clean.csv",
        fit=chosen_fit,
        reliability="results/cleaning/reliability.csv",
        code=analysis_sources("stages.segments"),
    output:
        segments=report(
            "results/{analysis}/segments.csv",
            caption="../report/segments.rst",
            labels={"result": "1 segments (table)"},
            category="3. Segments",
            subcategory="{analysis}",
        ),
        segments_md="results/{analysis}/segments.md",
        segments_tex="results/{analysis}/segments.tex",
        tests=report(
            "results/{analysis}/tests.csv",
            caption="../report/tests.rst",
            labels={"result": "4 slope tests (table)"},
            category="3. Segments",
            subcategory="{analysis}",
        ),
        tests_md="results/{analysis}/tests.md",
        tests_tex="results/{analysis}/tests.tex",
        assignments="results/{analysis}/assignments.csv",
        classification=report(
            "results/{analysis}/classification.csv",
            caption="../report/classification.rst",
            labels={"result": "9 classification (table)"},
            category="3. Segments",
            subcategory="{analysis}",
        ),
        classification_md="results/{analysis}/classification.md",
        classification_tex="results/{analysis}/classification.tex",
        residual_spread=report(
            "results/{analysis}/residual_spread.csv",
            caption="../report/residual_spread.rst",
            labels={"result": "8 residual spread (table)"},
            category="3. Segments",
            subcategory="{analysis}",
        ),
        residual_spread_md="results/{analysis}/residual_spread.md",
        residual_spread_tex="results/{analysis}/residual_spread.tex",
        covariance="results/{analysis}/covariance.csv",
        fitted_lines="results/{analysis}/fitted_lines.csv",
        summary="results/{analysis}/summary.txt",
        summary_md="results/{analysis}/summary.md",
        summary_tex="results/{analysis}/summary.tex",
    params:
        outcome=setting("outcome"),
        predictors=setting("predictors"),
        focal=setting("focal"),
        cov_type=setting("cov_type"),
        alpha=setting("alpha"),
        equivalence_margin=setting("equivalence_margin"),
        higher_is=setting("higher_is"),
        expected=setting("expected"),
        verdict_adjustment=setting("verdict_adjustment"),
        weight_column=WEIGHT,
        family_columns=family_columns,
        equations=setting("equations"),
        scale=outcome_scale,
        measurement_error=setting("measurement_error"),
    conda:
        "../envs/trustseg.yaml"
    log:
        "logs/{analysis}/segments.log",
    script:
        "../scripts/segments.py"


rule record_settings:
    message:
        "Recording the settings and the chosen number of segments of analysis {wildcards.analysis}"
    input:
        criteria="results/{analysis}/criteria.csv",
        data=config["data"]["path"],  # its SHA-256 goes into the provenance
        code=analysis_sources("stages.segments"),
    output:
        "results/{analysis}/analysis.json",
    params:
        outcome=setting("outcome"),
        predictors=setting("predictors"),
        focal=setting("focal"),
        alpha=setting("alpha"),
        criterion=setting("criterion"),
        equivalence_margin=setting("equivalence_margin"),
        cov_type=setting("cov_type"),
        method=setting("method"),
        membership_ci_level=1 - MEMBERSHIP_ALPHA,
        higher_is=setting("higher_is"),
        expected=setting("expected"),
        verdict_adjustment=setting("verdict_adjustment"),
        equations=setting("equations"),
        family=outcome_family,
        seed=SEED,
        config_sha256=CONFIG_SHA256,
    conda:
        "../envs/trustseg.yaml"
    log:
        "logs/{analysis}/record_settings.log",
    script:
        "../scripts/record_settings.py"


rule chain_effects:
    message:
        "Direct, indirect and total effects of the chain of analysis {wildcards.analysis}"
    input:
        unpack(chain_effects_inputs),
        clean="results/cleaning/clean.csv",
        fit=chosen_fit,
        segments="results/{analysis}/segments.csv",
        reliability="results/cleaning/reliability.csv",
        code=analysis_sources("stages.segments"),
    output:
        effects=report(
            "results/{analysis}/effects.csv",
            caption="../report/effects.rst",
            labels={"result": "5 chain effects (table)"},
            category="3. Segments",
            subcategory="{analysis}",
        ),
        effects_md="results/{analysis}/effects.md",
        effects_tex="results/{analysis}/effects.tex",
    params:
        equations=setting("equations"),
        cov_type=setting("cov_type"),
        alpha=setting("alpha"),
        equivalence_margin=setting("equivalence_margin"),
        verdict_adjustment=setting("verdict_adjustment"),
        weight_column=WEIGHT,
        measurement_error=setting("measurement_error"),
    conda:
        "../envs/trustseg.yaml"
    log:
        "logs/{analysis}/chain_effects.log",
    script:
        "../scripts/chain_effects.py"

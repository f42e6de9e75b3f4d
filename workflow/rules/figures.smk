# Stage 5: figures (PNG for screens, plus PDF/SVG for papers), each with a caption
# recorded in a captions_*.json beside it (read by the notebooks).

rule segment_figures:
    message:
        "Drawing the segment figures of analysis {wildcards.analysis}"
    input:
        unpack(segment_figure_inputs),
        code=analysis_sources("stages.figures"),
    output:
        scatter=report(
            "results/{analysis}/figures/segment_scatter.png",
            caption="../report/segment_scatter.rst",
            labels={"result": "2 segment scatter (figure)"},
            category="3. Segments",
            subcategory="{analysis}",
        ),
        criteria=report(
            "results/{analysis}/figures/information_criteria.png",
            caption="../report/information_criteria.rst",
            labels={"result": "2 information criteria (figure)"},
            category="2. Number of segments",
            subcategory="{analysis}",
        ),
        certainty=report(
            "results/{analysis}/figures/posterior_certainty.png",
            caption="../report/posterior_certainty.rst",
            labels={"result": "9 posterior certainty (figure)"},
            category="3. Segments",
            subcategory="{analysis}",
        ),
        forest=report(
            "results/{analysis}/figures/coefficient_forest.png",
            caption="../report/coefficient_forest.rst",
            labels={"result": "3 coefficient forest (figure)"},
            category="3. Segments",
            subcategory="{analysis}",
        ),
        vector=[f for figure in SEGMENT_FIGURES for f in _figure_files(figure)],
        captions="results/{analysis}/figures/captions_segments.json",
    params:
        outcome=setting("outcome"),
        predictors=setting("predictors"),
        focal=setting("focal"),
        alpha=setting("alpha"),
        equivalence_margin=setting("equivalence_margin"),
        constructs=axis_constructs,
        family=outcome_family,
        weight_column=WEIGHT,
        family_columns=family_columns,
        equations=setting("equations"),
        higher_is=setting("higher_is"),
        expected=setting("expected"),
        criterion=setting("criterion"),
        formats=FIGURE_FORMATS,
        seed=SEED,
    conda:
        "../envs/trustseg.yaml"
    log:
        "logs/{analysis}/segment_figures.log",
    script:
        "../scripts/segment_figures.py"


rule bootstrap_figure:
    message:
        "Drawing the bootstrap stability figure of analysis {wildcards.analysis}"
    input:
        segments="results/{analysis}/segments.csv",
        bootstrap="results/{analysis}/bootstrap.csv",
        replicates="results/{analysis}/bootstrap_replicates.csv",
        code=analysis_sources("stages.figures"),
    output:
        png=report(
            "results/{analysis}/figures/bootstrap_stability.png",
            caption="../report/bootstrap_stability.rst",
            labels={"result": "2 bootstrap stability (figure)"},
            category="4. Stability",
            subcategory="{analysis}",
        ),
        vector=_figure_files("bootstrap_stability"),
        captions="results/{analysis}/figures/captions_bootstrap.json",
    params:
        formats=FIGURE_FORMATS,
    conda:
        "../envs/trustseg.yaml"
    log:
        "logs/{analysis}/bootstrap_figure.log",
    script:
        "../scripts/bootstrap_figure.py"


rule profile_figure:
    message:
        "Drawing the profile heat map of analysis {wildcards.analysis}"
    input:
        segments="results/{analysis}/segments.csv",
        profiles="results/{analysis}/profiles.csv",
        code=analysis_sources("stages.figures"),
    output:
        png=report(
            "results/{analysis}/figures/profile_heatmap.png",
            caption="../report/profile_heatmap.rst",
            labels={"result": "2 profile heat map (figure)"},
            category="5. Who the segments are",
            subcategory="{analysis}",
        ),
        vector=_figure_files("profile_heatmap"),
        captions="results/{analysis}/figures/captions_profiles.json",
    params:
        formats=FIGURE_FORMATS,
    conda:
        "../envs/trustseg.yaml"
    log:
        "logs/{analysis}/profile_figure.log",
    script:
        "../scripts/profile_figure.py"


rule cleaning_figure:
    message:
        "Drawing the participant flow of the cleaning"
    input:
        report="results/cleaning/report.csv",
        flagged="results/cleaning/flagged.csv",
        code=sources("stages.figures"),
    output:
        png=report(
            "results/figures/participant_flow.png",
            caption="../report/participant_flow.rst",
            labels={"result": "1 participant flow (figure)"},
            category="1. Data and cleaning",
        ),
        vector=[f"results/figures/participant_flow.{ext}" for ext in FIGURE_FORMATS],
        captions="results/figures/captions_cleaning.json",
    params:
        formats=FIGURE_FORMATS,
    conda:
        "../envs/trustseg.yaml"
    log:
        "logs/cleaning/cleaning_figure.log",
    script:
        "../scripts/cleaning_figure.py"


rule chain_figures:
    message:
        "Drawing the path diagrams and effects of the chain of analysis {wildcards.analysis}"
    input:
        segments="results/{analysis}/segments.csv",
        effects="results/{analysis}/effects.csv",
        code=analysis_sources("stages.figures"),
    output:
        path_diagram=report(
            "results/{analysis}/figures/path_diagram.png",
            caption="../report/path_diagram.rst",
            labels={"result": "6 path diagrams (figure)"},
            category="3. Segments",
            subcategory="{analysis}",
        ),
        effects_forest=report(
            "results/{analysis}/figures/effects_forest.png",
            caption="../report/effects_forest.rst",
            labels={"result": "7 effects forest (figure)"},
            category="3. Segments",
            subcategory="{analysis}",
        ),
        vector=[f for figure in CHAIN_FIGURES for f in _figure_files(figure)],
        captions="results/{analysis}/figures/captions_chain.json",
    params:
        alpha=setting("alpha"),
        equivalence_margin=setting("equivalence_margin"),
        family=outcome_family,
        formats=FIGURE_FORMATS,
    conda:
        "../envs/trustseg.yaml"
    log:
        "logs/{analysis}/chain_figures.log",
    script:
        "../scripts/chain_figures.py"

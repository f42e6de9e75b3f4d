# Stage 4: who the segments are.


rule profiles:
    message:
        "Profiling the segments of analysis {wildcards.analysis}"
    input:
        clean="results/cleaning/clean.csv",
        assignments="results/{analysis}/assignments.csv",
        code=analysis_sources("stages.profiles"),
    output:
        profiles=report(
            "results/{analysis}/profiles.csv",
            caption="../report/profiles.rst",
            labels={"result": "1 profiles (table)"},
            category="5. Who the segments are",
            subcategory="{analysis}",
        ),
        profiles_md="results/{analysis}/profiles.md",
        profiles_tex="results/{analysis}/profiles.tex",
        membership=report(
            "results/{analysis}/membership.csv",
            caption="../report/membership.rst",
            labels={"result": "3 membership model (table)"},
            category="5. Who the segments are",
            subcategory="{analysis}",
        ),
        membership_md="results/{analysis}/membership.md",
        membership_tex="results/{analysis}/membership.tex",
    params:
        variables=config["profile"],
        weight_column=WEIGHT,
        family_columns=family_columns,
        equations=setting("equations"),
        seed=SEED,
        outcome=setting("outcome"),
        predictors=setting("predictors"),
        # the order of ordered categories (income bands): the config's, else the data file's value labels
        profile_order=config["profile_order"],
        # numeric codes to read as categories (occupation 1-12), shares instead of means
        profile_categorical=config["profile_categorical"],
        data_path=config["data"]["path"],
        data_format=config["data"]["format"],
    conda:
        "../envs/trustseg.yaml"
    log:
        "logs/{analysis}/profiles.log",
    script:
        "../scripts/profiles.py"

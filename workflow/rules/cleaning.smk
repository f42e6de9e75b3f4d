# Stage 1: read the raw survey, apply the cleaning rules, score the constructs.


rule clean_survey:
    message:
        "Cleaning {input.data}"
    input:
        data=config["data"]["path"],
        code=sources("stages.cleaning"),
    output:
        clean="results/cleaning/clean.csv",
        flagged="results/cleaning/flagged.csv",
        report=report(
            "results/cleaning/report.csv",
            caption="../report/cleaning_report.rst",
            labels={"result": "2 cleaning rules (table)"},
            category="1. Data and cleaning",
        ),
        report_md="results/cleaning/report.md",
        report_tex="results/cleaning/report.tex",
        reliability=report(
            "results/cleaning/reliability.csv",
            caption="../report/reliability.rst",
            labels={"result": "3 reliability (table)"},
            category="1. Data and cleaning",
        ),
        reliability_md="results/cleaning/reliability.md",
        reliability_tex="results/cleaning/reliability.tex",
        piles=report(
            "results/cleaning/piles.csv",
            caption="../report/piles.rst",
            labels={"result": "4 coarse answers (table)"},
            category="1. Data and cleaning",
        ),
        piles_md="results/cleaning/piles.md",
        piles_tex="results/cleaning/piles.tex",
    params:
        config={
            **{key: config[key] for key in ("data", "constructs", "cleaning", "profile")},
            # raw columns an analysis regresses on are carried into clean.csv
            "analysis_variables": sorted({v for a in config["analyses"].values() for v in analysis_columns(a)}),
        },
    conda:
        "../envs/trustseg.yaml"
    log:
        "logs/cleaning/clean_survey.log",
    script:
        "../scripts/clean_survey.py"

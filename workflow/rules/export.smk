# Take the results home: each analysis's respondents with their segment, segment name and posterior
# probabilities, keyed by the survey's id column, as SPSS (.sav), Stata (.dta), Excel (.xlsx) and CSV files to
# merge back into the source file; and every table of the run in one Excel workbook, a sheet per table.

rule export_segments:
    message:
        "Exporting the respondents' segments of analysis {wildcards.analysis} (SPSS, Stata, Excel, CSV)"
    input:
        assignments="results/{analysis}/assignments.csv",
        segments="results/{analysis}/segments.csv",
        code=sources("stages.export"),
    output:
        **{ext: f"results/{{analysis}}/export/{{analysis}}_segments.{ext}" for ext in EXPORT_FORMATS},
    params:
        id_column=config["data"]["id_column"],
    conda:
        "../envs/trustseg.yaml"
    log:
        "logs/{analysis}/export_segments.log",
    script:
        "../scripts/export_segments.py"


rule tables_workbook:
    message:
        "Gathering every table of the run into one workbook"
    input:
        tables=lambda w: list(workbook_tables(w).values()),
        code=sources("stages.export"),
    output:
        report("results/tables.xlsx", caption="../report/tables_workbook.rst", category="9. Provenance"),
    params:
        tables=workbook_tables,
        analyses=ANALYSES,
    conda:
        "../envs/trustseg.yaml"
    log:
        "logs/tables_workbook.log",
    script:
        "../scripts/tables_workbook.py"

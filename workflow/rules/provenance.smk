# What computed the run: trustseg's version (and commit in a clone), Python and library versions, the seed and
# SHA-256 fingerprints of the config and of the data file.  The same items are in every analysis.json.


rule record_provenance:
    message:
        "Recording what computed this run"
    input:
        data=config["data"]["path"],
        code=sources("stages.provenance"),
    output:
        table=report("results/provenance.csv", caption="../report/provenance.rst", category="9. Provenance"),
        table_md="results/provenance.md",
        table_tex="results/provenance.tex",
    params:
        seed=SEED,
        config_sha256=CONFIG_SHA256,
    conda:
        "../envs/trustseg.yaml"
    log:
        "logs/provenance.log",
    script:
        "../scripts/record_provenance.py"

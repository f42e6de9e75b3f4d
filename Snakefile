# trustseg: clusterwise regression of repurchase and trust on satisfaction.
#
#   snakemake --cores 2                                   # the bundled golf-club example, in a clone
#   snakemake --cores 2 --configfile config/my.yaml       # your own survey, results/ in this folder
#   snakemake --report results/report.html                # self-contained HTML report
#   trustseg run --configfile my_study/config.yaml        # from anywhere, with or without a clone:
#                                                         # this workflow (shipped in the package) run in
#                                                         # my_study/, on every CPU, then the report
#
# Each stage is one file under workflow/rules/; all logic lives in src/trustseg/.

from snakemake.utils import min_version

min_version("9.14.8")


include: "workflow/rules/common.smk"
include: "workflow/rules/cleaning.smk"
include: "workflow/rules/fit.smk"
include: "workflow/rules/segments.smk"
include: "workflow/rules/evidence.smk"
include: "workflow/rules/profiles.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/notebooks.smk"
include: "workflow/rules/warnings.smk"
include: "workflow/rules/provenance.smk"
include: "workflow/rules/export.smk"


report: "workflow/report/workflow.rst"


rule all:
    default_target: True
    input:
        all_targets(),
        "results/provenance.csv",
        export_targets(),

"""One module per workflow rule file.

The Snakemake rules are thin: each script in ``workflow/scripts/`` unpacks the
``snakemake`` object and calls one function of the stage module of its rule
file with plain paths, plus the rule's ``params`` as keyword arguments.  A rule
passes only the settings its function reads, so changing one setting reruns only
the rules that use it.  A rule lists as inputs the source files its stage module
imports, so editing a module reruns only the rules that run it.
"""

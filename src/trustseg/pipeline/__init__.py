"""The workflow that ``trustseg run`` runs, shipped inside the package.

The repository's top level is the source of truth: ``Snakefile``,
``workflow/`` (rules, scripts, report captions, schema, profiles, software
environment), ``notebooks/``, ``config/config.yaml`` and ``profiles``.  This
folder holds a link to each of them (``Snakefile -> ../../../Snakefile``), so
an editable install reads the checkout's own files and a wheel, which
setuptools fills with copies (``[tool.setuptools.package-data]`` in
``pyproject.toml``), carries them; both are found at
``importlib.resources.files("trustseg.pipeline")``
(:func:`trustseg.sources.pipeline_dir`).  Nothing here is imported.
"""

"""The model layer: the likelihood core, the estimator, inference, selection, bootstrap,
classification quality and the membership model.

Imports nothing from ``survey``, ``report`` or ``stages``.
"""

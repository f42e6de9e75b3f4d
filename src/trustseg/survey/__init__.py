"""The survey layer: reading survey files, cleaning, scoring, reliability, drafting a config, the simulator.

Imports nothing from ``model``, ``report`` or ``stages``.
"""

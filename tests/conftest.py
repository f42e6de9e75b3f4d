"""Test-run settings shared by every module.

The suite runs on as many workers as the machine has cores (pytest-xdist,
``-n auto --dist loadfile`` in pyproject.toml): each test module stays on one
worker, so a module's fixtures (a finished workflow run) are built once.
Workers take modules in collection order, so the modules that run the whole
workflow many times are collected first: the others then fill the remaining
workers instead of one long module starting last and running alone.
"""

from __future__ import annotations

#: the longest modules (minutes each), started first
LONGEST_FIRST = ("test_workflow.py", "test_privacy.py", "test_optimum.py", "test_cluster.py", "test_interrupts.py",
                 "test_family_recovery.py")


def pytest_collection_modifyitems(session, config, items):
    def rank(item):
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the order within a module, and of the other modules, is kept

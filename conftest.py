"""Root conftest: intentionally empty.

The suite's plugin modules are loaded by the installed ``pytest11`` entry
point (``fixtures.suite``), so their options parse before pytest picks a
rootdir; listing them here as well would be redundant.
"""

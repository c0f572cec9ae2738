"""Developer scripts that read across every layer; the suite never imports them.

Why a folder of its own: these scripts may read the simulator's drift
registry in-process, which the suite's packages may not (the import
contracts in pyproject.toml), so they live beside ``benchmarks/``, outside
the packages the contracts govern.
"""

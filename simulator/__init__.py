"""The embedded simulated Talos cluster: a server reached only through its files and executables.

Nothing outside ``simulator`` and ``tests/simulator`` imports it; the default
target fixture starts it as ``python -m simulator serve``.
"""

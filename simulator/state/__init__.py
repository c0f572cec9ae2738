"""Simulated machines: plain data, persisted as JSON in the simulator's etcd.

Models know nothing of HTTP or the CLI shims (moto's ``models``); behaviour
that follows from this state lives in :mod:`simulator.controllers`.
"""

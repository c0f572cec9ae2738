"""Talos machine configs: machine secrets and PKI, patches stacked, rendered, validated.

Everything here decides what a node receives; nothing here reaches a cluster.
"""

"""From cluster definition to running cluster: inventory, patches, secrets, rendering.

``provisioning.drivers`` (later) is the only code that talks to a cluster.
"""

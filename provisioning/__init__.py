"""From cluster definition to running cluster: the provisioning plan and its command line.

Split by what each part holds, each importing only those listed before it:
``definition`` (``cluster.yaml`` and the files it names), ``config`` (Talos
machine configs: secrets, patches, rendering, validation), ``drivers`` (the
only code that reaches a cluster), the plan modules here, and ``operations``
(backups, nightly runs, readdressing) that run beside it.
"""

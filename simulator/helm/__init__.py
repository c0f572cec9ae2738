"""The simulator's ``helm``: chart renderers, release records and the CLI shim.

What belongs here: everything behind the ``helm`` executable the simulated
target puts on ``PATH`` -- the two charts the suite installs (Cilium 1.19.1,
Longhorn 1.8.1) rendered in Python, release records stored exactly as Helm 3
stores them (``sh.helm.release.v1.*`` Secrets), and the command line.

Why a look-alike rather than the real binary: the suite must reach the
simulated cluster only through its executables and kubeconfig, and must not
download charts.  Rendering here and writing through the official
``kubernetes`` client against the simulator's API server leaves the same
objects and release Secrets a real ``helm upgrade --install`` would, so the
checks cannot tell the difference.  Controllers that turn DaemonSets into pods
live elsewhere; this package only writes objects.
"""

from __future__ import annotations

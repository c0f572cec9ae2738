"""Behaviour the simulated cluster derives from its state, one module per concern.

Controllers are pure Python over the simulator's models: given state (machine
configs, stored objects) and a request or a tick, they say what the real
component would do -- admit or reject, move a VIP, degrade a volume.  They know
nothing of HTTP; the API front ends translate their answers (moto's ``models``
layer).  Each module's docstring names the upstream source it follows and
every deliberate deviation from it.
"""

from __future__ import annotations

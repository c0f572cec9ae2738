"""The Talos side of the simulator: lifecycle, resources, output, machine API, talosctl shim.

Pure behaviour over :mod:`simulator.state.machines`; the HTTP front end and
the CLI only translate (moto's ``models`` / ``responses`` split).
"""

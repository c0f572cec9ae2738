"""The cluster definition a user edits: ``cluster.yaml``, the files it names, waivers.

Read once, checked with located errors (file and field), handed on as typed
values; nothing here renders a config or reaches a cluster.
"""

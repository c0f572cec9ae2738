"""The simulator's datastore: a real etcd v3, behind the small :class:`KV` seam."""

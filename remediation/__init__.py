"""Remediation: plans of actions that bring failing controls back, applied only when allowed."""

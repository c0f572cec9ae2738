"""Operations on a running cluster beside provisioning: backups, nightly runs, readdressing."""

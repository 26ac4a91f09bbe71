"""Dagster assets and asset checks: thin wiring over the `binclf` library."""

"""Dagster wiring: resources and the factories that turn domain specs into definitions."""

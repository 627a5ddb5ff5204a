"""Liveness with a database check."""

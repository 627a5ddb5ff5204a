"""Persistence: SQLAlchemy 2.0 base, engine and session handling, and the models."""

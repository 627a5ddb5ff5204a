"""restructures."""

"""holidays."""

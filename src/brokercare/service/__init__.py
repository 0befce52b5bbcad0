"""service domain."""

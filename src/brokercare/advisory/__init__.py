"""advisory domain."""

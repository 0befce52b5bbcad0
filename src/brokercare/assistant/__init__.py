"""assistant domain."""

"""segments domain."""

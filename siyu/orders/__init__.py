"""orders domain."""

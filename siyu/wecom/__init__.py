"""wecom domain."""

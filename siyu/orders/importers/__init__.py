"""importers domain."""

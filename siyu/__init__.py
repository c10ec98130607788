"""siyu (私域): private-domain customer operations for brands on WeCom."""

__version__ = "0.1.0"

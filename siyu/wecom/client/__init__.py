"""WeCom API client: typed methods over one token-caching, rate-limited transport."""

from siyu.wecom.client.api import WeComClient
from siyu.wecom.client.core import BaseClient, TokenCache, shared_token_cache
from siyu.wecom.client.ratelimit import RateLimiter, TokenBucket, shared_limiter

__all__ = [
    "BaseClient",
    "RateLimiter",
    "TokenBucket",
    "TokenCache",
    "WeComClient",
    "shared_limiter",
    "shared_token_cache",
]

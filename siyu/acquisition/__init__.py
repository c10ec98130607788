"""Acquisition (引流获客): how customers arrive — channels and live codes (渠道活码),
welcome messages. Today: the ``channel:`` audience term (``audience.py``) and the
channel look-ups behind it (``service.py``); live-code management comes in wave 2.
"""

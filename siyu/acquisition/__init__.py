"""Acquisition (引流获客): how customers arrive.

Channels (``channels.py``): live codes (渠道活码), group codes, 获客助手 links and store
channels, kept in step with WeCom by ``sync.py``; routing among staff (``routing.py``),
stores and the store landing (``stores.py``, ``endpoints.py``), welcomes (``welcome.py``),
entry tags (``tagsync.py``), order binding, matrix dedup, the lead pool and the channel
funnel (``funnel.py``). The ``channel:`` audience term is ``audience.py``.
"""

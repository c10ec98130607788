"""Automation (自动化), wave 2: mass sends, moments, SOPs and keyword rules.

Live codes and welcome messages belong to ``siyu.acquisition``. Audience terms this
domain will bring (``in_sop:``, ``sent_within_days:``) are declared here, in
``audience.py``, with ``siyu.segments.audience.registry.register`` (ADR 0007).
"""

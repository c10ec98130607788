"""Community (社群): customer groups (客户群) and, in wave 2, group types, entry
thresholds, group health and referral campaigns.

``groups.py``: group and member upserts used by WeCom callbacks and sync.
``service.py``: reading groups and their members (the API, the console).
"""

"""Staff (员工): the WeCom member accounts that befriend customers, and their capacity
(active friends against the account's customer limit). Wave 2 adds workloads here.

``service.py``: find / ensure an account (used by WeCom callbacks and sync) and the
capacity of each account (used by the API, the console and ``siyu staff list``).
"""

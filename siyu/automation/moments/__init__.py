"""The moments calendar (客户朋友圈): plans per day and staff account, WeCom tasks,
publishing reminders, likes and comments, cadence against a target.

``service`` plans; ``views`` reads (the calendar, cadence, reactions); ``wecom`` talks to WeCom;
``tasks`` declares the jobs.
"""

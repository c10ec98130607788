"""Execution (执行), wave 2: frontline staff task lists, SLAs and completion tracking.

``siyu.execution.service`` is the one way to create and complete a task: other
domains (acquisition's lead pool and matrix dedup, automation's SOP steps and sends,
insights' execution score) call it and never write ``staff_tasks`` themselves.
"""

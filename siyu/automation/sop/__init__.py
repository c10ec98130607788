"""SOP plans: after a trigger, timed steps for each enrolled customer (tasks, tags, sends).

``spec`` checks a plan's trigger, steps and exits and computes step times (workspace
zone, quiet hours); ``triggers`` finds who matches; ``service`` saves, activates,
enrolls and runs steps exactly once; ``jobs`` declares the background work.
"""

"""Mass sends (群发) to customers and groups: plan, deliver through WeCom, follow, measure.

``knobs`` (workspace settings), ``planner`` (freeze the audience, remove, split,
hold out), ``delivery`` (the ``add_msg_template`` calls, intent stored first),
``results`` (follow until settled, remind, cancel, quota pull), ``lift`` (targeted vs
holdout), ``service`` (what the CLI, the API and the console call).
"""

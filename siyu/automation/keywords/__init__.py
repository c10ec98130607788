"""Keyword rules (关键词规则) on incoming messages, sensitive words and boss alerts.

- ``matcher``: many keywords at once (exact, contains, regex) with Aho–Corasick;
- ``rules``: saving rules (refused when a regex is invalid or a keyword empty);
- ``engine``: reading new ``messages`` by id and acting (tag, profile field, automatic
  reply through WeChat customer service, a task with a suggested reply);
- ``alerts``: sensitive words per workspace, and alerts for the boss (a sensitive word,
  a staff member deleting a customer);
- ``tasks``: the periodic consumer, the reply job and the deletion subscriber.
"""

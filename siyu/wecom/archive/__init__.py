"""The conversation archive (会话内容存档) and WeChat customer service (微信客服) messages.

``parse`` reads one decrypted archive record; ``importer`` stores records as
``messages`` (idempotent by msgid, recalls applied, consent kept); ``settings`` holds
the workspace's choices (message text kept encrypted or not at all, retention,
coverage, who may view); ``sdk`` pulls from the Finance SDK through ctypes; ``kf``
syncs customer-service messages; ``interactions`` keeps ``last_interaction_at``.
"""

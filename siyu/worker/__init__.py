"""``siyu worker``: periodic jobs and the durable job queue."""

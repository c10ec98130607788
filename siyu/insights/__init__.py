"""Insights: the figures a brand reads its private domain by (metrics summary, dashboard).

``service.summary`` is the one summary behind ``GET /api/v1/metrics/summary`` and the
console's dashboard; ``repository`` holds its queries, ``schemas`` its shapes.
"""

"""What every analytics plan must be, whoever planned it (the shipped plan or the estimating tool)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pump_anthropic.domain.analytics_plan import MAX_GROUP_BY, counted_dimensions


def assert_well_formed(result: Any, start: datetime, end: datetime, width: str | None) -> None:
    """Every query is valid on its endpoint, and each query set covers the window exactly once."""
    sets: dict[tuple, list] = {}
    for planned in result.queries:
        query = planned.query
        query.check_for(planned.endpoint)
        assert query.limit == 1000 and query.time_bucket_width == width
        assert len(counted_dimensions(planned.endpoint, query.group_by)) <= MAX_GROUP_BY
        sets.setdefault((planned.endpoint, query.group_by), []).append(query)
    for queries in sets.values():
        bounds = [(q.starting_at, q.ending_at) for q in queries]
        assert bounds[0][0] == start and bounds[-1][1] == end
        assert all(prev[1] == nxt[0] for prev, nxt in zip(bounds, bounds[1:], strict=False))
    assert len({(p.endpoint, p.query.group_by, p.serves) for p in result.queries}) == len(sets)

"""Schemathesis hooks for the contract test (loaded through SCHEMATHESIS_HOOKS by `st run`).

`positive_data_acceptance` expects every schema-valid request to succeed. A few refusals depend on what no JSON
Schema can say, and only those are accepted here, each by its error code and sentence: relations between two
parameters (from after to, a range over 400 days, a name twice in group_by, dimensions that don't combine), a page
cursor only the server mints, and an Admin key only Anthropic can prove. Any other 400 to a schema-valid request
still fails the run.
"""

from __future__ import annotations

import json
import re

import schemathesis

SEMANTIC_REFUSALS = {
    "invalid_query": re.compile(
        r"'from' must be on or before 'to'|The date range may cover at most|Each group_by value may appear only once"
        r"|group_by can't combine|The page cursor is not one this query returned"
        # group_by=hour: which dimensions go with it, and exports being by day.
        r"|group_by=hour combines only with|Exports are by day"
        # GET /costs/reconciliation: a month's place relative to today, which no schema can say.
        r"|'month' can't be in the future|'month' must start within the last"
    ),
    # group_by=hour over days the sync did not read hour by hour (the schema can't know which days have hours).
    "no_hourly_data": re.compile(r"No hourly cost for this range"),
    "invalid_request": re.compile(r"'connection_id' must name one of your Anthropic connections"),
    "key_rejected": re.compile(r"."),
    "key_lacks_permission": re.compile(r"."),
}


def semantic_refusal(status: int, text: str) -> bool:
    try:
        error = json.loads(text)["error"]
    except (ValueError, KeyError, TypeError):
        return False
    pattern = SEMANTIC_REFUSALS.get(error.get("code")) if isinstance(error, dict) else None
    return status == 400 and pattern is not None and bool(pattern.search(str(error.get("message", ""))))


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    """Keeps every failure but a schema-valid request's semantic refusal (see above)."""
    rejected = type(failure).__name__ == "RejectedPositiveData"
    return not (rejected and semantic_refusal(response.status_code, response.text))

"""Anthropic Admin API client and its response models."""

from pump_anthropic.admin_api.client import AdminApiClient
from pump_anthropic.admin_api.models import (
    ApiKey,
    ApiKeyPage,
    CostBucket,
    CostReportPage,
    Organization,
    UsageBucket,
    UsageReportPage,
    Workspace,
    WorkspacePage,
)

__all__ = [
    "AdminApiClient",
    "ApiKey",
    "ApiKeyPage",
    "CostBucket",
    "CostReportPage",
    "Organization",
    "UsageBucket",
    "UsageReportPage",
    "Workspace",
    "WorkspacePage",
]

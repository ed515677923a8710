"""A faithful local simulator of the Anthropic Admin API usage & cost endpoints (local runtime default).

It serves the legacy reports and the Usage and Cost Analytics API (beta) over the same synthetic organization.
"""

from anthropic_simulator import prices
from anthropic_simulator.analytics_data import Actor, AnalyticsData, AnalyticsRow, Dims
from anthropic_simulator.analytics_settings import ANALYTICS_BETA, AnalyticsSettings
from anthropic_simulator.faults import FAULT_KINDS
from anthropic_simulator.org import ApiKey, CostRow, OrgSpec, SimulatedOrg, UsageRow, User, Workspace
from anthropic_simulator.scenarios import ScenarioTraffic, SpendScenario
from anthropic_simulator.server import ANALYTICS_PATHS, DEMO_ADMIN_KEY, Simulator, serve_forever

__all__ = [
    "ANALYTICS_BETA",
    "ANALYTICS_PATHS",
    "DEMO_ADMIN_KEY",
    "FAULT_KINDS",
    "Actor",
    "AnalyticsData",
    "AnalyticsRow",
    "AnalyticsSettings",
    "ApiKey",
    "CostRow",
    "Dims",
    "OrgSpec",
    "ScenarioTraffic",
    "SimulatedOrg",
    "Simulator",
    "SpendScenario",
    "UsageRow",
    "User",
    "Workspace",
    "prices",
    "serve_forever",
]

"""A faithful local simulator of the Anthropic Admin API usage & cost endpoints (local runtime default)."""

from pump_anthropic.simulator import prices
from pump_anthropic.simulator.faults import FAULT_KINDS
from pump_anthropic.simulator.org import ApiKey, CostRow, OrgSpec, SimulatedOrg, UsageRow, User, Workspace
from pump_anthropic.simulator.server import DEMO_ADMIN_KEY, Simulator, serve_forever

__all__ = [
    "DEMO_ADMIN_KEY",
    "FAULT_KINDS",
    "ApiKey",
    "CostRow",
    "OrgSpec",
    "SimulatedOrg",
    "Simulator",
    "UsageRow",
    "User",
    "Workspace",
    "prices",
    "serve_forever",
]

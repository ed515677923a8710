"""The layout's rules, checked on the source: what ships imports nothing local, the domain is pure, files stay small."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / "shared" / "pump_anthropic"
NEVER_SHIPPED = ("functions", "pump_local", "anthropic_simulator", "tests")
IO_LIBRARIES = ("boto3", "botocore", "pynamodb", "requests", "tenacity", "aws_lambda_powertools")
MAX_LINES = 400
DESIGN = ROOT / "docs" / "design.md"


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def shared_modules() -> list[Path]:
    return sorted(SHARED.rglob("*.py"))


def test_nothing_that_ships_imports_the_handlers_the_local_runtime_or_the_simulator():
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in imported_modules(path) if m.split(".")[0] in NEVER_SHIPPED)
        for path in shared_modules()
    }
    assert {path: mods for path, mods in offenders.items() if mods} == {}


def test_the_simulator_imports_nothing_of_ours():
    ours = ("pump_anthropic", "pump_local", "functions")
    simulator = ROOT / "local" / "anthropic_simulator"
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in imported_modules(path) if m.split(".")[0] in ours)
        for path in sorted(simulator.rglob("*.py"))
    }
    assert {path: mods for path, mods in offenders.items() if mods} == {}


def test_the_domain_does_no_io_and_reads_no_clock():
    offenders = {}
    for path in sorted((SHARED / "domain").rglob("*.py")):
        bad = sorted(
            m for m in imported_modules(path) if m.split(".")[0] in IO_LIBRARIES or m.startswith("pump_anthropic.clock")
        )
        if bad:
            offenders[str(path.relative_to(ROOT))] = bad
    assert offenders == {}


def test_only_the_dal_knows_pynamodb():
    offenders = [
        str(path.relative_to(ROOT))
        for path in shared_modules()
        if "dal" not in path.relative_to(SHARED).parts and any(m.startswith("pynamodb") for m in imported_modules(path))
    ]
    assert offenders == []


def test_no_module_that_ships_is_a_house_of_its_own():
    """Over 400 lines only with a line in docs/design.md ("Files over 400 lines") saying why."""
    design = DESIGN.read_text()
    explained = design[design.index("## Files over 400 lines") :]
    too_long = {
        str(path.relative_to(ROOT)): lines
        for path in shared_modules()
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
        and f"`{path.relative_to(SHARED.parent).as_posix()}`" not in explained
    }
    assert too_long == {}

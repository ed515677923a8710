"""The layout's rules, checked on the source: what ships imports nothing local, the domain is pure, files stay small."""

from __future__ import annotations

import ast
import re
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


def _layers_of_ours() -> set[str]:
    """The layers of the shipped package: its sub-packages and its top-level modules."""
    return {
        path.stem if path.is_file() else path.name
        for path in SHARED.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").exists()
    }


def _layers_imported(path: Path, ours: set[str]) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [(alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [(node.module, tuple(alias.name for alias in node.names))]
        else:
            continue
        for module, members in names:
            parts = module.split(".")
            if parts[0] == "pump_anthropic":
                found |= {parts[1]} if len(parts) > 1 else set(members)
    return found & ours


def _module_rows() -> dict[tuple[str, ...], set[str]]:
    """The module table of docs/design.md: each row's modules and the layers of ours its last column names."""
    ours = _layers_of_ours()
    rows = {}
    for line in DESIGN.read_text().splitlines():
        match = re.match(r"^\| ((?:`[a-z_/]+\.py`(?:, )?)+) \| .* \| ([^|]+) \|$", line)
        if match:
            modules = tuple(re.findall(r"`([^`]+)`", match.group(1)))
            if all((SHARED / module).exists() for module in modules):
                rows[modules] = {word.strip() for word in match.group(2).split(",")} & ours
    return rows


def test_the_design_doc_names_every_module_and_what_of_ours_it_imports():
    """docs/design.md's module table: a row per shipped module, whose import column names exactly the layers of ours
    (sub-packages, or top-level modules such as exceptions and clock) the module imports; third-party names beside
    them are not checked."""
    rows, ours = _module_rows(), _layers_of_ours()
    listed = {module for modules in rows for module in modules}
    shipped = {path.relative_to(SHARED).as_posix() for path in shared_modules() if path.name != "__init__.py"}
    assert sorted(shipped - listed) == []
    wrong = {
        ", ".join(modules): {
            "doc": sorted(named),
            "code": sorted(set().union(*(_layers_imported(SHARED / m, ours) for m in modules))),
        }
        for modules, named in rows.items()
    }
    assert {row: cols for row, cols in wrong.items() if cols["doc"] != cols["code"]} == {}

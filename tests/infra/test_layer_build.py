"""shared/Makefile's build-SharedLayer, the recipe `sam build` runs for the layer (offline, about a second).

The recipe runs for real against a stand-in interpreter: it reports the version the test chooses, records and fakes
`pip install` (no network: it drops one pure-Python package, with a stale .pyc, into the target) and hands
`compileall` to the Python running the tests, so the .pyc it leaves are real.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / "shared"
PYC_UNCHECKED_HASH = 0b01  # PEP 552 flags: hash-based, source not checked

FAKE_PYTHON = """
import json, os, subprocess, sys
from pathlib import Path

args = sys.argv[1:]
with open(os.environ["FAKE_PYTHON_LOG"], "a") as log:
    log.write(json.dumps({"args": args, "cwd": os.getcwd()}) + "\\n")
if args[0] == "-c":  # the recipe's interpreter check
    sys.version_info = tuple(int(part) for part in os.environ["FAKE_PYTHON_VERSION"].split("."))
    exec(args[1])
elif args[:3] == ["-m", "pip", "install"]:
    target = Path(args[args.index("--target") + 1])
    (target / "fakedep").mkdir(parents=True)
    (target / "fakedep" / "__init__.py").write_text("VALUE = 1\\n")
    (target / "fakedep" / "__pycache__").mkdir()  # a wheel that ships a stale .pyc of another interpreter
    (target / "fakedep" / "__pycache__" / "__init__.cpython-39.pyc").write_bytes(b"stale")
    (target / "bin").mkdir()
elif args[:2] == ["-m", "compileall"]:
    sys.exit(subprocess.run([os.environ["REAL_PYTHON"], *args]).returncode)
else:
    sys.exit(f"unexpected invocation: {args}")
"""

MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="needs make (sam build runs it too)")


def _run_recipe(tmp_path: Path, version: str) -> tuple[subprocess.CompletedProcess, Path, list[dict]]:
    script = tmp_path / "fake_python.py"
    script.write_text(FAKE_PYTHON)
    wrapper = tmp_path / "python3.13"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    log, artifacts = tmp_path / "calls.jsonl", tmp_path / "artifacts"
    artifacts.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),  # and no MAKEFLAGS from an outer `make test`
        "FAKE_PYTHON_LOG": str(log),
        "FAKE_PYTHON_VERSION": version,
        "REAL_PYTHON": sys.executable,
    }
    done = subprocess.run(
        [MAKE, "-C", str(SHARED), "build-SharedLayer", f"ARTIFACTS_DIR={artifacts}", f"PYTHON={wrapper}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return done, artifacts / "python", calls


def test_template_builds_the_layer_with_the_makefile():
    layer = yaml_parse((ROOT / "template.yaml").read_text())["Resources"]["SharedLayer"]
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    # sam build looks for the Makefile in ContentUri and runs the target named after the resource
    makefile = (ROOT / layer["Properties"]["ContentUri"] / "Makefile").read_text()
    assert re.findall(r"^build-SharedLayer:", makefile, re.MULTILINE) == ["build-SharedLayer:"]


def test_recipe_installs_the_requirements_for_lambda_and_byte_compiles_with_unchecked_hash(tmp_path):
    # When
    done, layer, calls = _run_recipe(tmp_path, "3.13.0")

    # Then the recipe succeeded
    assert done.returncode == 0, done.stdout + done.stderr
    # and pip installed shared/requirements.txt for Lambda (arm64, CPython 3.13), wheels only, without compiling
    [pip] = [c for c in calls if c["args"][:3] == ["-m", "pip", "install"]]
    args = pip["args"]
    assert Path(pip["cwd"], args[args.index("-r") + 1]).resolve() == (SHARED / "requirements.txt").resolve()
    assert Path(args[args.index("--target") + 1]) == layer
    assert args[args.index("--platform") + 1] == "manylinux2014_aarch64"
    assert args[args.index("--python-version") + 1] == "3.13"
    assert {"--only-binary=:all:", "--no-compile"} <= set(args)
    # and compileall ran last over the whole layer, with unchecked-hash .pyc
    [compileall] = [c for c in calls if c["args"][:2] == ["-m", "compileall"]]
    assert calls[-1] is compileall
    assert compileall["args"][compileall["args"].index("--invalidation-mode") + 1] == "unchecked-hash"
    assert Path(compileall["args"][-1]) == layer

    # and the layer holds the dependencies and pump_anthropic, without pip's bin/ or the local-only subpackages
    assert not (layer / "bin").exists()
    assert (layer / "pump_anthropic" / "wiring.py").is_file()
    assert not (layer / "pump_anthropic" / "simulator").exists()
    assert not (layer / "pump_anthropic" / "local").exists()
    # and every module has a .pyc, each one unchecked-hash (none left over from a wheel or a developer's checkout)
    sources = list(layer.rglob("*.py"))
    assert any(p.parts[-2] == "fakedep" for p in sources)
    tag = sys.implementation.cache_tag
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        assert pyc.is_file(), source
    for pyc in layer.rglob("*.pyc"):
        assert pyc.name.endswith(f".{tag}.pyc"), pyc
        assert struct.unpack("<I", pyc.read_bytes()[4:8])[0] == PYC_UNCHECKED_HASH, pyc


@pytest.mark.parametrize("version", ["3.12.7", "3.14.0"])
def test_recipe_refuses_an_interpreter_other_than_3_13(tmp_path, version):
    # When
    done, layer, calls = _run_recipe(tmp_path, version)

    # Then it stops before installing anything, saying why
    assert done.returncode != 0
    assert "is not CPython 3.13" in done.stderr
    assert [c["args"][0] for c in calls] == ["-c"]
    assert not layer.exists()

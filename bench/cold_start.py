"""Benchmark 4: cold start — each handler's import time in a fresh interpreter, and each deployment package's size.

The Lambda layout is rebuilt under bench/.cache/lambda (ignored by git):

- `layer-src/python`: requirements.txt installed with `pip install --no-compile --target` for the interpreter that
  runs the timing (Python 3.13 when found, the Lambda target), plus a copy of shared/pump_anthropic, with no .pyc
  anywhere. That is what `sam build` deploys: its pip builder unpacks wheels without compiling, and /opt and
  /var/task are read-only, so every cold start compiles every imported module from source.
- `layer-pyc/python`: the same, byte-compiled (`compileall`) — what a build that precompiles would ship.
- `layer-arm64/python`: requirements.txt for manylinux2014_aarch64 / CPython 3.13 (`--platform … --only-binary`),
  used only for the package size (the target's wheels cannot run on this machine).

Each timing runs `python -B -c "import app"` in a fresh process with the function's directory as the task root and
the layer's python/ on the path (the Lambda runtime's layout), median of N runs; one more run with
`-X importtime` names the heaviest imports and who pulls them in.

    .venv/bin/python bench/cold_start.py [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CACHE, ROOT, Row, machine, median, rows_to_dicts, write_json  # noqa: E402

FUNCTIONS = ("connect", "costs", "backfill", "sync")
LAMBDA_DIR = CACHE / "lambda"
PYTHON_TARGET = "3.13"
IMPORT_TARGET_MS = 300
LAMBDA_UNZIPPED_LIMIT_MB = 250
ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "TABLE_NAME": "pump-anthropic",
    "SECRET_PREFIX": "pump-anthropic/",
    "TENANT_CLAIM": "tenant_id",
    "POWERTOOLS_SERVICE_NAME": "pump-anthropic",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "POWERTOOLS_METRICS_NAMESPACE": "PumpAnthropic",
    "ANTHROPIC_API_URL": "https://api.anthropic.com",
    "LANG": "C.UTF-8",
}
# What functions/costs/app.py would import if `bind_storage` lived beside the repository and the OpenAPI document
# (which pulls the connect routes, hence services: boto3, requests, tenacity) were imported inside its route.
LEAN_COSTS_IMPORTS = (
    "from aws_lambda_powertools.event_handler import APIGatewayHttpResolver\n"
    "from aws_lambda_powertools.utilities.typing import LambdaContext\n"
    "from pump_anthropic.api.common import install_error_handlers\n"
    "from pump_anthropic.api.cost_routes import router\n"
    "from pump_anthropic.observability import logger\n"
    "from pump_anthropic.dal import repository\n"
    "from pump_anthropic.settings import settings\n"
    "app = APIGatewayHttpResolver(enable_validation=True)\n"
)
PROBE = (
    "import time\n"
    "t = time.perf_counter()\n"
    "import app\n"
    "elapsed = time.perf_counter() - t\n"
    "rss = [line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM:')][0]\n"
    "print(f'{elapsed:.6f} {rss}')\n"
)


def find_python() -> tuple[str, bool]:
    """The Lambda target's interpreter if this machine has one, else the one running this script."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = sorted(str(p) for p in pyenv_root.glob(f"versions/{PYTHON_TARGET}*/bin/python{PYTHON_TARGET}"))
    candidates.append(shutil.which(f"python{PYTHON_TARGET}"))
    for candidate in candidates:
        if candidate and subprocess.run([candidate, "-c", "pass"], capture_output=True).returncode == 0:
            return candidate, True
    return sys.executable, False


def requirements_digest(python: str, extra: str = "") -> str:
    text = (ROOT / "requirements.txt").read_text() + python + extra
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def pip_install(python: str, target: Path, args: list[str]) -> None:
    """Install requirements.txt into `target` once per requirements/interpreter (a stamp file remembers)."""
    stamp = target / ".installed"
    digest = requirements_digest(python, " ".join(args))
    if stamp.exists() and stamp.read_text() == digest:
        return
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    command = [
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-compile",
        "--target",
        str(target),
        "-r",
        str(ROOT / "requirements.txt"),
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"pip install failed: {done.stderr[-2000:]}")
    shutil.rmtree(target / "bin", ignore_errors=True)
    stamp.write_text(digest)


def copy_tree(source: Path, destination: Path) -> None:
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"), dirs_exist_ok=True)


def build_layers(python: str) -> dict[str, Path]:
    deps_src = LAMBDA_DIR / "deps-src"
    pip_install(python, deps_src, [])
    layers = {}
    for name, compiled in (("layer-src", False), ("layer-pyc", True)):
        root = LAMBDA_DIR / name
        shutil.rmtree(root, ignore_errors=True)
        copy_tree(deps_src, root / "python")
        (root / "python" / ".installed").unlink(missing_ok=True)
        copy_tree(ROOT / "shared" / "pump_anthropic", root / "python" / "pump_anthropic")
        if compiled:
            subprocess.run(
                [python, "-m", "compileall", "-q", "-j", "0", str(root / "python")],
                check=False,
                capture_output=True,
                timeout=900,
            )
        layers[name] = root / "python"
    for fn in FUNCTIONS:
        task = LAMBDA_DIR / "task" / fn
        shutil.rmtree(task, ignore_errors=True)
        copy_tree(ROOT / "functions" / fn, task)
    return layers


def arm64_layer() -> tuple[Path | None, str]:
    target = LAMBDA_DIR / "deps-arm64"
    args = [
        "--platform",
        "manylinux2014_aarch64",
        "--only-binary=:all:",
        "--python-version",
        PYTHON_TARGET,
        "--implementation",
        "cp",
    ]
    try:
        pip_install(sys.executable, target, args)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        return None, f"aarch64 install failed ({str(exc)[:200]})"
    return target, "manylinux2014_aarch64 wheels for CPython 3.13 (pip --platform)"


def run_import(
    python: str, fn: str, layer: Path, *, importtime: bool = False, probe: str = PROBE
) -> tuple[float, int, str]:
    task = LAMBDA_DIR / "task" / fn
    env = ENV | {"PYTHONPATH": f"{task}{os.pathsep}{layer}", "PATH": os.environ.get("PATH", "")}
    command = [python, "-B", "-s", *(["-X", "importtime"] if importtime else []), "-c", probe]
    done = subprocess.run(command, cwd=task, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"import of functions/{fn}/app.py failed:\n{done.stderr[-2000:]}")
    elapsed, rss = done.stdout.split()
    return float(elapsed), int(rss), done.stderr


def parse_importtime(stderr: str) -> list[tuple[int, int, int, str]]:
    """(depth, self_us, cumulative_us, module) in the order Python printed them (children before parents)."""
    entries = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        parts = line[len("import time:") :].split("|")
        self_us, cumulative_us, raw_name = int(parts[0]), int(parts[1]), parts[2]
        stripped = raw_name.lstrip(" ")
        depth = (len(raw_name) - len(stripped) - 1) // 2
        entries.append((depth, self_us, cumulative_us, stripped.strip()))
    return entries


def heaviest(entries: list[tuple[int, int, int, str]], limit: int = 6) -> list[dict]:
    """Third-party and own packages by total self time, each with the chain that first imports it."""
    parents: dict[int, str] = {}
    by_package: Counter = Counter()
    first_chain: dict[str, list[str]] = {}
    # Python prints children before their parent, so walk backwards to know each line's ancestors.
    for depth, self_us, _cumulative, name in reversed(entries):
        parents[depth] = name
        package = name.split(".")[0]
        by_package[package] += self_us
        if name == package or package not in first_chain:
            first_chain[package] = [parents[d] for d in range(depth) if d in parents]
    stdlib = set(sys.stdlib_module_names)
    result = []
    for package, self_us in by_package.most_common():
        if package in stdlib or package in ("app", "encodings"):
            continue
        chain = first_chain.get(package, [])
        own = [c for c in chain if c.split(".")[0] in ("app", "pump_anthropic")]
        via = own[-1:] + ([chain[-1]] if chain and chain[-1] not in own else [])
        result.append({"package": package, "self_ms": self_us / 1000, "via": " → ".join(via) or "app"})
        if len(result) == limit:
            break
    return result


def direct_imports(entries: list[tuple[int, int, int, str]], limit: int = 5) -> list[dict]:
    """What app.py itself imports, by cumulative time (each first import of a module carries its whole subtree)."""
    direct = sorted((e for e in entries if e[0] == 1), key=lambda e: -e[2])
    return [{"module": e[3], "cumulative_ms": e[2] / 1000} for e in direct[:limit]]


def stdlib_ms(entries: list[tuple[int, int, int, str]]) -> float:
    stdlib = set(sys.stdlib_module_names)
    return sum(e[1] for e in entries if e[3].split(".")[0] in stdlib) / 1000


def dir_size(path: Path) -> tuple[int, int, int]:
    """(bytes on disk unzipped, zipped bytes, files) of a directory, without caches."""
    files = [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.name != ".installed"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for f in files:
            archive.write(f, f.relative_to(path))
    return sum(f.stat().st_size for f in files), buffer.tell(), len(files)


def package_sizes(arm64: Path | None) -> dict:
    own = ROOT / "shared" / "pump_anthropic"
    sizes = {"pump_anthropic": dir_size(own)}
    for sub in ("simulator", "local"):
        sizes[f"pump_anthropic/{sub}"] = dir_size(own / sub)
    if arm64 is not None:
        sizes["dependencies (arm64)"] = dir_size(arm64)
        per_dist: Counter = Counter()
        for child in arm64.iterdir():
            if child.name.endswith(".dist-info") or child.name in (".installed", "__pycache__"):
                continue
            per_dist[child.name] = dir_size(child)[0] if child.is_dir() else child.stat().st_size
        sizes["largest dependencies"] = per_dist.most_common(4)
    for fn in FUNCTIONS:
        sizes[f"functions/{fn}"] = dir_size(ROOT / "functions" / fn)
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 samples per handler instead of 7")
    parser.add_argument("--json")
    args = parser.parse_args()
    started = time.perf_counter()
    python, is_target = find_python()
    version = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"], capture_output=True, text=True, check=True
    ).stdout.strip()
    layers = build_layers(python)
    arm64, arm64_note = arm64_layer()
    samples = 3 if args.quick else 7
    handlers = {}
    for fn in FUNCTIONS:
        figures = {}
        for name, layer in layers.items():
            runs = [run_import(python, fn, layer) for _ in range(samples)]
            figures[name] = {"import_s": median([r[0] for r in runs]), "rss_kb": median([r[1] for r in runs])}
        _, _, stderr = run_import(python, fn, layers["layer-src"], importtime=True)
        entries = parse_importtime(stderr)
        figures["importtime_total_ms"] = max((e[2] for e in entries if e[0] == 0 and e[3] == "app"), default=0) / 1000
        figures["stdlib_self_ms"] = stdlib_ms(entries)
        figures["heaviest"] = heaviest(entries)
        figures["direct_imports"] = direct_imports(entries)
        figures["module_count"] = len(entries)
        figures["imports_simulator_or_local"] = sorted(
            {e[3] for e in entries if e[3].startswith(("pump_anthropic.simulator", "pump_anthropic.local", "moto"))}
        )
        handlers[fn] = figures
    lean_probe = PROBE.replace("import app\n", LEAN_COSTS_IMPORTS)
    handlers["costs"]["lean"] = {
        name: median([run_import(python, "costs", layer, probe=lean_probe)[0] for _ in range(samples)])
        for name, layer in layers.items()
    }
    sizes = package_sizes(arm64)
    rows = rows_for(handlers, sizes, version, is_target, arm64_note)
    write_json(
        args.json,
        {
            "script": "cold_start",
            "python": python,
            "python_version": version,
            "python_is_lambda_target": is_target,
            "arm64": arm64_note,
            "machine": machine(),
            "seconds": time.perf_counter() - started,
            "handlers": handlers,
            "sizes": sizes,
            "rows": rows_to_dicts(rows),
        },
    )


def rows_for(handlers: dict, sizes: dict, version: str, is_target: bool, arm64_note: str) -> list[Row]:
    rows = []
    note = f"Python {version}" + ("" if is_target else " (not the 3.13 Lambda target)")
    for fn, f in handlers.items():
        src, pyc = f["layer-src"]["import_s"] * 1000, f["layer-pyc"]["import_s"] * 1000
        top = ", ".join(f"{h['package']} {h['self_ms']:.0f} ms" for h in f["heaviest"][:4])
        rows.append(
            Row(
                "cold start",
                f"import functions/{fn}/app.py (as deployed: no .pyc)",
                f"{src:.0f} ms",
                f"{src / IMPORT_TARGET_MS:.2f}× the target; {pyc:.0f} ms with .pyc ({src / pyc:.1f}× slower without); "
                f"{f['module_count']} modules; heaviest (self time): {top}; {note}",
                f"≤ {IMPORT_TARGET_MS} ms",
            )
        )
        rows.append(
            Row(
                "cold start",
                f"  RSS after importing functions/{fn}/app.py",
                f"{f['layer-pyc']['rss_kb'] / 1024:.0f} MB",
                "peak RSS (VmHWM) of the fresh interpreter, with .pyc",
            )
        )
    lean = handlers.get("costs", {}).get("lean")
    if lean:
        now = handlers["costs"]["layer-src"]["import_s"]
        rows.append(
            Row(
                "cold start",
                "  costs without services/openapi on its import path (experiment)",
                f"{lean['layer-src'] * 1000:.0f} ms",
                f"{lean['layer-src'] / now:.0%} of today's {now * 1000:.0f} ms; {lean['layer-pyc'] * 1000:.0f} ms with "
                ".pyc — what moving bind_storage out of services and importing the OpenAPI document lazily would give",
                f"≤ {IMPORT_TARGET_MS} ms",
            )
        )
    deps = sizes.get("dependencies (arm64)")
    own = sizes["pump_anthropic"]
    for fn in FUNCTIONS:
        fn_size = sizes[f"functions/{fn}"]
        if deps:
            total = fn_size[0] + own[0] + deps[0]
            zipped = fn_size[1] + own[1] + deps[1]
            rows.append(
                Row(
                    "package",
                    f"{fn}: function + shared layer",
                    f"{total / 2**20:.1f} MB unzipped",
                    f"{zipped / 2**20:.1f} MB zipped; "
                    f"{total / 2**20 / LAMBDA_UNZIPPED_LIMIT_MB:.0%} of Lambda's 250 MB; "
                    f"function code {fn_size[0] / 1024:.1f} KB",
                    "",
                )
            )
    if deps:
        largest = ", ".join(f"{name} {size / 2**20:.1f} MB" for name, size in sizes["largest dependencies"])
        sim, local = sizes["pump_anthropic/simulator"], sizes["pump_anthropic/local"]
        rows.append(
            Row(
                "package",
                "shared layer breakdown",
                f"deps {deps[0] / 2**20:.1f} MB + pump_anthropic {own[0] / 1024:.0f} KB",
                f"largest: {largest}; simulator {sim[0] / 1024:.0f} KB and local runtime "
                f"{local[0] / 1024:.0f} KB ship but never run on Lambda; {arm64_note}",
            )
        )
    return rows


if __name__ == "__main__":
    main()

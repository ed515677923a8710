"""Benchmark 4: cold start — each handler's import time in a fresh interpreter, and each deployment package's size.

The layer is built by the same recipe `sam build` runs (template.yaml SharedLayer, `BuildMethod: makefile`):
`make -C shared build-SharedLayer ARTIFACTS_DIR=… PYTHON=<CPython 3.13>`, under bench/.cache/lambda (ignored by git),
rebuilt only when shared/requirements.txt, shared/Makefile or shared/pump_anthropic change:

- `layer-shipped/python`: that target with PLATFORM set to this machine's manylinux wheels (the shipped layer's are
  aarch64, which cannot be imported here); otherwise the same recipe and the same files: dependencies and
  pump_anthropic, byte-compiled with unchecked-hash .pyc. The "as shipped" figure.
- `layer-src/python`: the same files without any __pycache__: what `BuildMethod: python3.13` shipped before (SAM's
  pip builder compiles nothing, and /opt is read-only, so every cold start compiled every imported module). The
  "without precompiling" comparison.
- `layer-arm64/python`: the target as `sam build` runs it (manylinux2014_aarch64 / CPython 3.13), used only for the
  package size, .pyc included.

The recipe needs CPython 3.13 (the Lambda runtime; its .pyc are cpython-313): without one on this machine (pyenv
or python3.13 on PATH) the script reports itself skipped.

Each timing runs `python -B -c "import app"` in a fresh process with the function's directory as the task root and
the layer's python/ on the path (the Lambda runtime's layout; -B only stops writing .pyc, as on read-only /opt),
median of N runs; one more run with `-X importtime` on the shipped layer names the heaviest imports and who pulls
them in.

    .venv/bin/python bench/cold_start.py [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import platform
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
LAMBDA_PLATFORM = "manylinux2014_aarch64"  # shared/Makefile's default PLATFORM
HOST_PLATFORM = f"manylinux2014_{platform.machine()}"
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
    "from pump_anthropic.api.responses import install_error_handlers\n"
    "from pump_anthropic.api.costs import router\n"
    "from pump_anthropic.observability import logger\n"
    "from pump_anthropic.dal import table\n"
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


def find_python() -> str | None:
    """A CPython 3.13 interpreter (the Lambda runtime, which the layer's recipe insists on), or None."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = sorted(str(p) for p in pyenv_root.glob(f"versions/{PYTHON_TARGET}*/bin/python{PYTHON_TARGET}"))
    candidates.append(shutil.which(f"python{PYTHON_TARGET}"))
    for candidate in candidates:
        if candidate and subprocess.run([candidate, "-c", "pass"], capture_output=True).returncode == 0:
            return candidate
    return None


def source_digest(*extra: str) -> str:
    """What the layer is built from: the recipe, the requirements and every file of the package (plus `extra`)."""
    digest = hashlib.sha256()
    shared = ROOT / "shared"
    files = [shared / "Makefile", shared / "requirements.txt"]
    files += sorted(p for p in (shared / "pump_anthropic").rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in files:
        digest.update(str(path.relative_to(shared)).encode() + b"\0" + path.read_bytes() + b"\0")
    for part in extra:
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:16]


def make_layer(python: str, name: str, wheel_platform: str) -> Path:
    """`make -C shared build-SharedLayer` into bench/.cache/lambda/<name>, once per source digest (a stamp file)."""
    root = LAMBDA_DIR / name
    stamp = root / ".built"
    digest = source_digest(python, wheel_platform)
    if stamp.exists() and stamp.read_text() == digest:
        return root / "python"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    command = [
        "make",
        "--no-print-directory",
        "-C",
        str(ROOT / "shared"),
        "build-SharedLayer",
        f"ARTIFACTS_DIR={root}",
        f"PYTHON={python}",
        f"PLATFORM={wheel_platform}",
    ]
    # Not the outer `make bench`'s command-line variables (MAKEFLAGS would pass them down to the recipe).
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{(done.stdout + done.stderr)[-3000:]}")
    stamp.write_text(digest)
    return root / "python"


def copy_tree(source: Path, destination: Path) -> None:
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"), dirs_exist_ok=True)


def build_layers(python: str) -> dict[str, Path]:
    """The shipped layer for this machine's platform, the same without .pyc, and each function's task root."""
    shipped = make_layer(python, "layer-shipped", HOST_PLATFORM)
    source_only = LAMBDA_DIR / "layer-src"
    shutil.rmtree(source_only, ignore_errors=True)
    copy_tree(shipped, source_only / "python")
    for fn in FUNCTIONS:
        task = LAMBDA_DIR / "task" / fn
        shutil.rmtree(task, ignore_errors=True)
        copy_tree(ROOT / "functions" / fn, task)
    return {"shipped": shipped, "no_pyc": source_only / "python"}


def arm64_layer(python: str) -> tuple[Path | None, str]:
    """The layer exactly as `sam build` makes it (the recipe's default platform), for its size."""
    try:
        layer = make_layer(python, "layer-arm64", LAMBDA_PLATFORM)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        return None, f"arm64 layer build failed ({str(exc)[:300]})"
    return layer, f"{LAMBDA_PLATFORM} wheels for CPython {PYTHON_TARGET} (make -C shared build-SharedLayer)"


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
    """(bytes on disk unzipped, zipped bytes, files) of a directory or a file, .pyc included (they ship)."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for f in files:
            archive.write(f, f.relative_to(path.parent))
    return sum(f.stat().st_size for f in files), buffer.tell(), len(files)


def package_sizes(layer: Path | None) -> dict:
    sizes: dict = {}
    if layer is not None:
        sizes["layer (arm64)"] = dir_size(layer)
        sizes["pump_anthropic"] = dir_size(layer / "pump_anthropic")
        sizes["pyc_bytes"] = sum(p.stat().st_size for p in layer.rglob("*.pyc"))
        per_dist: Counter = Counter()
        for child in layer.iterdir():
            if child.name.endswith(".dist-info") or child.name in ("__pycache__", "pump_anthropic"):
                continue
            per_dist[child.name] = dir_size(child)[0]
        sizes["largest dependencies"] = per_dist.most_common(4)
    own = ROOT / "shared" / "pump_anthropic"
    for sub in ("simulator", "local"):  # left out of the layer by shared/Makefile
        sizes[f"pump_anthropic/{sub} (source)"] = dir_size(own / sub)
    for fn in FUNCTIONS:
        task = ROOT / "functions" / fn
        sizes[f"functions/{fn}"] = dir_size(task / "app.py")  # the CodeUri holds it and an empty __init__.py
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 samples per handler instead of 7")
    parser.add_argument("--json")
    args = parser.parse_args()
    started = time.perf_counter()
    python = find_python()
    if python is None:
        reason = (
            f"skipped: no CPython {PYTHON_TARGET} here (pyenv or python{PYTHON_TARGET} on PATH); shared/Makefile "
            f"builds the layer only with the Lambda runtime's interpreter"
        )
        print(reason, flush=True)
        write_json(args.json, {"script": "cold_start", "skipped": reason, "handlers": {}, "rows": []})
        return
    version = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"], capture_output=True, text=True, check=True
    ).stdout.strip()
    layers = build_layers(python)
    arm64, arm64_note = arm64_layer(python)
    samples = 3 if args.quick else 7
    handlers = {}
    for fn in FUNCTIONS:
        figures = {}
        for name, layer in layers.items():
            runs = [run_import(python, fn, layer) for _ in range(samples)]
            figures[name] = {"import_s": median([r[0] for r in runs]), "rss_kb": median([r[1] for r in runs])}
        _, _, stderr = run_import(python, fn, layers["shipped"], importtime=True)
        entries = parse_importtime(stderr)
        figures["importtime_total_ms"] = max((e[2] for e in entries if e[0] == 0 and e[3] == "app"), default=0) / 1000
        figures["stdlib_self_ms"] = stdlib_ms(entries)
        figures["heaviest"] = heaviest(entries)
        figures["direct_imports"] = direct_imports(entries)
        figures["module_count"] = len(entries)
        figures["imports_simulator_or_local"] = sorted(
            {e[3] for e in entries if e[3].startswith(("anthropic_simulator", "pump_anthropic.local", "moto"))}
        )
        handlers[fn] = figures
    lean_probe = PROBE.replace("import app\n", LEAN_COSTS_IMPORTS)
    handlers["costs"]["lean"] = {
        name: median([run_import(python, "costs", layer, probe=lean_probe)[0] for _ in range(samples)])
        for name, layer in layers.items()
    }
    sizes = package_sizes(arm64)
    rows = rows_for(handlers, sizes, version, arm64_note)
    write_json(
        args.json,
        {
            "script": "cold_start",
            "python": python,
            "python_version": version,
            "host_platform": HOST_PLATFORM,
            "arm64": arm64_note,
            "machine": machine(),
            "seconds": time.perf_counter() - started,
            "handlers": handlers,
            "sizes": sizes,
            "rows": rows_to_dicts(rows),
        },
    )


def rows_for(handlers: dict, sizes: dict, version: str, arm64_note: str) -> list[Row]:
    rows = []
    for fn, f in handlers.items():
        shipped, src = f["shipped"]["import_s"] * 1000, f["no_pyc"]["import_s"] * 1000
        top = ", ".join(f"{h['package']} {h['self_ms']:.0f} ms" for h in f["heaviest"][:4])
        rows.append(
            Row(
                "cold start",
                f"import functions/{fn}/app.py as shipped (precompiled layer)",
                f"{shipped:.0f} ms",
                f"{shipped / IMPORT_TARGET_MS:.2f}× the target; without precompiling: {src:.0f} ms "
                f"({src / shipped:.1f}× slower); {f['module_count']} modules; heaviest (self time): {top}; "
                f"Python {version}, {HOST_PLATFORM} wheels",
                f"≤ {IMPORT_TARGET_MS} ms",
            )
        )
        rows.append(
            Row(
                "cold start",
                f"  RSS after importing functions/{fn}/app.py",
                f"{f['shipped']['rss_kb'] / 1024:.0f} MB",
                "peak RSS (VmHWM) of the fresh interpreter, as shipped",
            )
        )
    lean = handlers.get("costs", {}).get("lean")
    if lean:
        now = handlers["costs"]["shipped"]["import_s"]
        rows.append(
            Row(
                "cold start",
                "  costs without services/openapi on its import path (experiment)",
                f"{lean['shipped'] * 1000:.0f} ms",
                f"{lean['shipped'] / now:.0%} of today's {now * 1000:.0f} ms; {lean['no_pyc'] * 1000:.0f} ms without "
                "precompiling — what moving bind_storage out of services and importing the OpenAPI document lazily "
                "would give",
                f"≤ {IMPORT_TARGET_MS} ms",
            )
        )
    layer = sizes.get("layer (arm64)")
    for fn in FUNCTIONS:
        fn_size = sizes[f"functions/{fn}"]
        if layer:
            total = fn_size[0] + layer[0]
            zipped = fn_size[1] + layer[1]
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
    if layer:
        own = sizes["pump_anthropic"]
        largest = ", ".join(f"{name} {size / 2**20:.1f} MB" for name, size in sizes["largest dependencies"])
        sim, local = sizes["pump_anthropic/simulator (source)"], sizes["pump_anthropic/local (source)"]
        rows.append(
            Row(
                "package",
                "shared layer breakdown",
                f"deps {(layer[0] - own[0]) / 2**20:.1f} MB + pump_anthropic {own[0] / 1024:.0f} KB",
                f".pyc {sizes['pyc_bytes'] / 2**20:.1f} MB of it; largest: {largest}; simulator "
                f"({sim[0] / 1024:.0f} KB) and local runtime ({local[0] / 1024:.0f} KB) left out; {arm64_note}",
            )
        )
    return rows


if __name__ == "__main__":
    main()

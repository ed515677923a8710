"""`make bench`: run every benchmark on the embedded default, print one table, append it to bench/RESULTS.md.

    .venv/bin/python bench/run_all.py [--quick] [--only pipeline,reads,chunk_cpu,function_memory,cold_start,
                                                          peer_ingestr,fleet]
                                      [--skip-peer] [--no-append]

Each script runs in its own process (moto and the simulator keep process-wide state) and writes its figures as
JSON to bench/.cache/last/<script>.json; their logs go to bench/.cache/logs/<script>.log.
`peer_ingestr` installs ingestr into bench/.cache/ingestr-venv on first use (≈1.1 GB, about a minute from PyPI);
it reports itself skipped when that install fails, and `--skip-peer` leaves it out.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH, CACHE, ROOT, machine, markdown_table, plain_table  # noqa: E402

SCRIPTS = ("pipeline", "reads", "chunk_cpu", "function_memory", "cold_start", "peer_ingestr", "fleet")
RESULTS = BENCH / "RESULTS.md"


def run(script: str, quick: bool) -> dict:
    out = CACHE / "last" / f"{script}.json"
    log = CACHE / "logs" / f"{script}.log"
    out.parent.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(BENCH / f"{script}.py"), "--json", str(out), *(["--quick"] if quick else [])]
    began = time.perf_counter()
    print(f"· {script} …", flush=True)
    with log.open("w") as stream:
        done = subprocess.run(command, cwd=ROOT, stdout=stream, stderr=subprocess.STDOUT, timeout=3600)
    if done.returncode != 0:
        tail = log.read_text()[-3000:]
        raise SystemExit(f"{script} failed (exit {done.returncode}); see {log}:\n{tail}")
    figures = json.loads(out.read_text())
    if figures.get("skipped"):
        print(f"  {figures['skipped']}", flush=True)
    print(f"  done in {time.perf_counter() - began:.0f} s", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small org, fewer samples (a smoke run)")
    parser.add_argument("--only", help="comma list of " + ", ".join(SCRIPTS))
    parser.add_argument("--skip-peer", action="store_true", help="leave out peer_ingestr (no ingestr install)")
    parser.add_argument("--no-append", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    scripts = [s.strip() for s in args.only.split(",")] if args.only else list(SCRIPTS)
    unknown = set(scripts) - set(SCRIPTS)
    if unknown:
        parser.error(f"unknown script(s): {', '.join(sorted(unknown))}")
    if args.skip_peer and "peer_ingestr" in scripts:
        scripts.remove("peer_ingestr")
        print("· peer_ingestr skipped (--skip-peer)", flush=True)

    started = time.perf_counter()
    results = {script: run(script, args.quick) for script in scripts}
    rows = [row for script in scripts for row in results[script]["rows"]]
    elapsed = time.perf_counter() - started
    print()
    print(plain_table(rows))
    print(f"\n{len(rows)} figures in {elapsed / 60:.1f} min")
    if not args.no_append:
        append_results(results, rows, args.quick, elapsed)
        print(f"appended to {RESULTS.relative_to(ROOT)}")


def append_results(results: dict, rows: list[dict], quick: bool, elapsed: float) -> None:
    info = machine()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "",
        f"### Run {stamp}{' (--quick)' if quick else ''}",
        "",
        f"Machine: {info['cores']} cores, {info['cpu']}, Python {info['python']} ({info['platform']}); "
        f"`make bench` took {elapsed / 60:.1f} min.",
    ]
    if "pipeline" in results:
        org = results["pipeline"]["org"]
        lines.append(
            f"Org: {org['workspaces']} workspaces, {org['api_keys']} API keys, {org['models']} models, every tier, "
            f"context window and geo; seed {org['seed']}; {results['pipeline']['backfill_days']} days."
        )
    if "cold_start" in results:
        cold = results["cold_start"]
        lines.append(f"Cold start measured with Python {cold['python_version']} ({cold['python']}).")
        for fn, figures in cold["handlers"].items():
            heavy = "; ".join(f"{h['package']} {h['self_ms']:.0f} ms (via {h['via']})" for h in figures["heaviest"])
            direct = "; ".join(f"{d['module']} {d['cumulative_ms']:.0f} ms" for d in figures.get("direct_imports", []))
            lines.append(f"- `{fn}` heaviest packages (self time, as shipped): {heavy}")
            lines.append(f"  - what `functions/{fn}/app.py` imports, cumulative (first import pays): {direct}")
    if "fleet" in results:
        fleet = results["fleet"]
        shape = fleet["fleet"]
        lines.append(
            f"Fleet: {shape['small']} small + {shape['large']} large connections (each its own tenant and simulated "
            f"organization), {shape['hours']} simulated hours from {shape['start']}; the model extrapolates to "
            f"{fleet['model']['connections']:,} connections ({fleet['model']['large_share']:.0%} large), its "
            "assumptions in docs/operations.md."
        )
    lines += ["", markdown_table(rows), ""]
    with RESULTS.open("a") as stream:
        stream.write("\n".join(lines))


if __name__ == "__main__":
    main()

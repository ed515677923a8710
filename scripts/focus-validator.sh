#!/usr/bin/env bash
# Install (once) and run the FinOps Foundation focus-validator 2.2.1 for FOCUS 1.2, offline.
#
#   scripts/focus-validator.sh install                 # create the virtualenv if missing (idempotent)
#   scripts/focus-validator.sh --data-file x.csv ...   # install if missing, then run focus-validator with these args
#
# focus-validator 2.x declares Python >= 3.12; CI guarantees only 3.11, so it lives in its own virtualenv
# (FOCUS_VALIDATOR_VENV, default .venv/focus-validator: inside .venv so git and ruff already ignore it and
# `make clean` removes it) and gets three adjustments:
#   1. --ignore-requires-python, then numpy>=2 (the pyarrow it resolves needs NumPy 2 despite `numpy<2`);
#   2. one Python 3.12-only f-string rewritten as plain concatenation (same string, imports on 3.11);
#   3. run from site-packages: it opens focus_validator/rules/currency_codes.csv relative to the cwd.
# FOCUS_VALIDATOR_PYTHON picks the interpreter (default python3); with 3.12+ the rewrite is harmless.
# Note: the validator exits 0 even when rules fail; callers must read the "Fail: N" summary line.
set -euo pipefail

VERSION=2.2.1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${FOCUS_VALIDATOR_VENV:-$ROOT/.venv/focus-validator}
PYTHON=${FOCUS_VALIDATOR_PYTHON:-python3}
STAMP=$VENV/.installed-$VERSION
CONVERTER=focus_validator/config_objects/focus_to_duckdb_converter.py

patch_fstring() {
    "$VENV/bin/python" - "$1/$CONVERTER" <<'EOF'
import sys
from pathlib import Path

path = Path(sys.argv[1])
old = """f"'{k.replace('\\"', '\\"\\"')}'" for k in ignore_keys"""
new = """"'" + k.replace('"', '""') + "'" for k in ignore_keys"""
text = path.read_text()
if old in text:
    path.write_text(text.replace(old, new))
elif new not in text:
    sys.exit(f"focus-validator.sh: the line to patch is not in {path}; check the pinned version")
EOF
}

install() {
    local started=$SECONDS
    echo "focus-validator.sh: installing focus-validator $VERSION into $VENV" >&2
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --upgrade pip
    "$VENV/bin/pip" install --quiet --ignore-requires-python "focus-validator==$VERSION"
    echo "focus-validator.sh: pip will call numpy>=2 a conflict with focus-validator's numpy<2 pin; expected" >&2
    "$VENV/bin/pip" install --quiet --only-binary=:all: "numpy>=2"
    patch_fstring "$(site_packages)"
    (cd "$(site_packages)" && "$VENV/bin/python" -c "import focus_validator.main")
    touch "$STAMP"
    echo "focus-validator.sh: installed in $((SECONDS - started)) s" >&2
}

site_packages() {
    "$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])"
}

# Not `[[ -f $STAMP ]] || install`: bash ignores `set -e` inside a function called from an || list.
ensure_installed() {
    if [[ ! -f $STAMP ]]; then
        install
    fi
}

# The validator runs from site-packages, so relative --data-file / --output-destination paths are made absolute.
run() {
    local args=() previous=""
    for arg in "$@"; do
        if [[ $previous == --data-file || $previous == --output-destination ]] && [[ $arg != /* && $arg != - ]]; then
            arg=$PWD/$arg
        fi
        args+=("$arg")
        previous=$arg
    done
    cd "$(site_packages)"
    exec "$VENV/bin/focus-validator" "${args[@]}"
}

if [[ ${1:-} == install ]]; then
    ensure_installed
else
    ensure_installed
    run "$@"
fi

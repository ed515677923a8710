#!/usr/bin/env bash
# Prints the interpreter `make` builds .venv with: CPython 3.13 (the Lambda runtime template.yaml deploys) when the
# machine has it, pyenv's or on the PATH; otherwise the newest python3.x >= 3.11 found; otherwise python3.
set -u
candidates=()
if command -v pyenv >/dev/null 2>&1; then
    root=$(pyenv root 2>/dev/null)
    for dir in $(ls -d "$root"/versions/3.13* 2>/dev/null | sort -V -r); do
        candidates+=("$dir/bin/python3")
    done
fi
for minor in 13 14 12 11; do
    path=$(command -v "python3.$minor" 2>/dev/null) && candidates+=("$path")
    if command -v pyenv >/dev/null 2>&1 && [ "$minor" != 13 ]; then
        for dir in $(ls -d "$(pyenv root)"/versions/3."$minor"* 2>/dev/null | sort -V -r); do
            candidates+=("$dir/bin/python3")
        done
    fi
done
candidates+=(python3)
for python in "${candidates[@]}"; do
    # pyenv shims exist for versions that aren't selected; only an interpreter that runs counts.
    if "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1; then
        echo "$python"
        exit 0
    fi
done
echo python3

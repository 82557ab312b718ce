#!/usr/bin/env bash
# CI step of the downstream project: count, then gate on the committed baseline.
# Take the baseline again (after an intended change) with:
#   python -m pytest test_costs.py -p no:cacheprovider --panicquota-instructions=instructions.json
set -euo pipefail
cd "$(dirname "$0")"
# Needs: pip install panicquota pytest (no extra), and valgrind.
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind; }
new=$(mktemp --suffix=.json)
python -m pytest test_costs.py -p no:cacheprovider --panicquota-instructions="$new"
panicquota bench-compare instructions.json "$new" --max-regression 3%

#!/usr/bin/env bash
# The bigger load test: N concurrent clients (5,000 by default) join, send and
# read against one group. Usage: scripts/load.sh [CLIENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n "$(ulimit -Hn)"
HUDDLE_LOAD_CLIENTS="${1:-5000}" cargo test --release --test load -- --nocapture

#!/usr/bin/env bash
# The long crash test: 20 kill -9s of a group under concurrent senders (CI
# runs 5). Usage: scripts/crash.sh [KILLS]
set -euo pipefail
cd "$(dirname "$0")/.."
HUDDLE_CRASH_KILLS="${1:-20}" cargo test --release --test crash -- --nocapture

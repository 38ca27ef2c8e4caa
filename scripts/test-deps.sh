#!/usr/bin/env bash
# What the tests need beyond Rust: tmux (the chat client is driven in a real
# terminal) and pyzmq (the stand-ins for the seed's Python servers). Installs
# whichever is missing; .ci/run and the tests themselves call it.
set -euo pipefail
if ! command -v tmux >/dev/null; then
    sudo=$([ "$(id -u)" = 0 ] || echo sudo)
    $sudo apt-get update -qq && $sudo apt-get install -y -qq tmux >/dev/null
fi
python3 -c 'import zmq' 2>/dev/null || python3 -m pip install --quiet pyzmq

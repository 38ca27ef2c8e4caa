#!/usr/bin/env bash
# What the tests need beyond Rust: tmux (the chat client is driven in a real
# terminal), tcpdump (what crosses loopback is captured to show it is
# encrypted), Chromium and its WebDriver (huddle web is tested in a real
# browser) and pyzmq (the stand-ins for the seed's Python servers).
# Installs whichever is missing; .ci/run and the tests themselves call it.
set -euo pipefail
missing=()
command -v tmux >/dev/null || missing+=(tmux)
command -v tcpdump >/dev/null || missing+=(tcpdump)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=$([ "$(id -u)" = 0 ] || echo sudo)
    $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
python3 -c 'import zmq' 2>/dev/null || python3 -m pip install --quiet pyzmq

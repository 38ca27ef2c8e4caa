#!/usr/bin/env bash
# huddle side by side with its references, on this machine, one after another:
#   - the disk's fsync rate (the ceiling for one-at-a-time durable acks)
#   - a bare echo on huddle's ZMTP engine and on a libzmq ROUTER, driven like
#     huddle (the transport's ceiling), by huddle's own client and by libzmq's
#   - huddle: durable sendMessage at 64 users and at 1, getMessage, fan-out
#     to 10/100/1,000 watching members at 1,000 messages/s, idle CPU
#   - Redis Streams XADD with appendfsync always and everysec (redis-benchmark,
#     same number of clients, 100-byte values); Redis pub/sub and XREAD BLOCK
#     on the same fan-out as huddle's (examples/redis_fanout.rs)
#   - the seed's group server as reconstructed in tests/python (in memory)
# Usage: scripts/bench.sh            (DURATION=5 USERS=64 BIG_HISTORY=1000000)
# Needs redis-server and redis-benchmark (apt-get install redis-server redis-tools)
# and python3 with pyzmq (pip install pyzmq) for the last two rows.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
USERS=${USERS:-64}
BIG_HISTORY=${BIG_HISTORY:-1000000}
REQUESTS=${REQUESTS:-200000}

cargo build --release --quiet
cargo build --release --quiet --example redis_fanout
huddle=target/release/huddle
work=$(mktemp -d)
trap 'redis-cli -p 6399 shutdown nosave >/dev/null 2>&1 || true; kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr)"
echo "# $(date -u +%Y-%m-%dT%H:%MZ), duration ${DURATION}s per row"

"$huddle" bench fsync --duration 3 --dir "$work"
"$huddle" bench send --echo --users "$USERS" --duration "$DURATION"
"$huddle" bench send --echo libzmq --users "$USERS" --duration "$DURATION"
"$huddle" bench send --echo --client libzmq --users "$USERS" --duration "$DURATION"
"$huddle" bench send --users "$USERS" --duration "$DURATION"
"$huddle" bench send --client libzmq --users "$USERS" --duration "$DURATION"
"$huddle" bench send --users 1 --duration "$DURATION"
"$huddle" bench send --curve --users "$USERS" --duration "$DURATION"
"$huddle" bench send --curve --users 1 --duration "$DURATION"
"$huddle" bench join --users "$USERS" --duration "$DURATION"
"$huddle" bench get --users 8 --duration "$DURATION" --history 1000
"$huddle" bench get --users 8 --duration "$DURATION" --history "$BIG_HISTORY"
for members in 10 100 1000; do
    "$huddle" bench fanout --users "$members" --rate 1000 --duration "$DURATION"
done
"$huddle" bench fanout --curve --users 100 --rate 1000 --duration "$DURATION"
"$huddle" bench idle --duration 10

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

if command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null; then
    value=$(printf 'x%.0s' $(seq 100))
    for fsync in always everysec; do
        mkdir -p "$work/redis-$fsync"
        redis-server --port 6399 --dir "$work/redis-$fsync" --appendonly yes --appendfsync "$fsync" \
            --save '' --daemonize yes --pidfile "$work/redis-$fsync/pid" --maxclients 10000 >/dev/null
        until redis-cli -p 6399 ping >/dev/null 2>&1; do sleep 0.1; done
        pid=$(cat "$work/redis-$fsync/pid")
        before=$(cpu_ticks "$pid")
        csv=$(redis-benchmark -p 6399 -c "$USERS" -n "$REQUESTS" --csv XADD bench '*' f "$value" | tail -1)
        after=$(cpu_ticks "$pid")
        ticks_per_second=$(getconf CLK_TCK)
        echo "$csv" | awk -F'"' -v t=$((after - before)) -v hz="$ticks_per_second" -v n="$REQUESTS" -v f="$fsync" -v u="$USERS" \
            '{printf "redis-xadd   appendfsync %-14s %4d users x1 %10.0f/s   p50 %7.3f ms  p99 %7.3f ms                     server %.1f µs CPU/ack\n", f, u, $4, $10, $14, t * 1e6 / hz / n}'
        if [ "$fsync" = always ]; then
            for members in 10 100 1000; do
                for mode in pubsub xread; do
                    target/release/examples/redis_fanout "$mode" "$members" 1000 "$DURATION" redis://127.0.0.1:6399/
                done
            done
        fi
        redis-cli -p 6399 shutdown nosave >/dev/null 2>&1 || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    done
else
    echo "redis: not installed (apt-get install redis-server redis-tools), rows skipped"
fi

if python3 -c 'import zmq' 2>/dev/null; then
    python3 tests/python/seed_message_server.py > "$work/seed-dir.out" &
    until grep -q listening "$work/seed-dir.out" 2>/dev/null; do sleep 0.1; done
    seed_dir=$(sed 's/.*listening on //' "$work/seed-dir.out")
    python3 tests/python/seed_group.py seed 127.0.0.1:0 "$seed_dir" > "$work/seed-group.out" &
    seed_pid=$!
    until grep -q listening "$work/seed-group.out" 2>/dev/null; do sleep 0.1; done
    seed_group=$(sed 's/.*listening on //' "$work/seed-group.out")
    "$huddle" bench send --group "$seed_group" --pid "$seed_pid" --users "$USERS" --duration "$DURATION" | sed 's/^send        /seed-send   /'
    "$huddle" bench get --group "$seed_group" --pid "$seed_pid" --users 8 --duration "$DURATION" --history 100000 | sed 's/^get-/seed-get-/'
    "$huddle" bench get --users 8 --duration "$DURATION" --history 100000
else
    echo "seed stand-in: python3 with pyzmq missing (pip install pyzmq), row skipped"
fi

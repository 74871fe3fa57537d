#!/usr/bin/env bash
# bench/signin-profile.sh — where a password sign-in's CPU goes besides argon2id (see bench/README.md).
#
# The sign-in benchmark (bench/run.sh signin) judges sign-ins/s against the argon2id limit, and that limit
# moves by ±15 % within minutes on a shared host. This script measures what the ratio is made of, with a
# figure that does not move with the host: the share of the server's CPU spent outside argon2id while it
# signs customers in. For each run it starts the release server on SQLite, pinned to core 0, registers 64
# customers, and drives 8 of them at once through the hosted form (GET, GET, POST) from core 1, twice:
#
#   real   Tessera's default argon2id (m=19 MiB, t=2, p=1), as in bench/run.sh signin;
#   cheap  argon2id at m=64 KiB, t=1: the same request work without the 19 MiB sweep through the caches
#          (not sampled: perf's own interrupts would add to it).
#
# `perf record` samples the server during the real window; samples in argon2 (and the block copies it
# makes with memmove) count as hashing, everything else as the rest. Prints, per run: CPU per sign-in and
# the share outside argon2id with what it is in ms; then the cheap window's CPU per sign-in. At 90 % of the
# limit the rest may be at most a ninth of a verification: about 10 % of the server's CPU.
#
# Needs perf, taskset and curl. Tunables: BENCH_RUNS (3), BENCH_DURATION (10 s).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/root/.cache/tessera-target}
runs=${BENCH_RUNS:-3}
duration=${BENCH_DURATION:-10}
for tool in perf taskset curl python3; do
    command -v "$tool" >/dev/null || { echo "signin-profile: $tool is missing" >&2; exit 2; }
done

(cd "$root" && cargo build --release -p tessera -p tessera-bench-driver >&2)
bin=$CARGO_TARGET_DIR/release/tessera
driver=$CARGO_TARGET_DIR/release/tessera-bench
work=$(mktemp -d /tmp/tessera-signin-profile.XXXXXX)
trap 'rm -rf "$work"' EXIT

# One window: prints "cpu_us_per_signin share_outside_argon2" (the share is 1 when not sampled).
window() {
    local memory=$1 iterations=$2 sampled=$3 dir="$work/$RANDOM$RANDOM"
    mkdir -p "$dir/data"
    local public=127.0.0.1:$((20000 + RANDOM % 20000)) admin=127.0.0.1:$((40000 + RANDOM % 20000))
    local key
    key=tsk_$(head -c 64 /dev/urandom | base64 | tr -dc 'a-zA-Z0-9' | head -c 48)
    (cd "$dir" && exec env -i PATH="$PATH" HOME="$HOME" TESSERA_PUBLIC_ADDR=$public \
        TESSERA_ADMIN_ADDR=$admin TESSERA_DATA_DIR="$dir/data" TESSERA_BOOTSTRAP_ADMIN_KEY=$key \
        TESSERA_LOG_LEVEL=warn TESSERA_DEV_MODE=true TESSERA_TRUSTED_PROXIES=127.0.0.1/32 \
        TESSERA_ARGON2_MEMORY_KIB="$memory" TESSERA_ARGON2_ITERATIONS="$iterations" \
        TESSERA_QUOTA_FLOW_STARTS_PER_CLIENT=1000000 TESSERA_QUOTA_FLOW_STARTS_GLOBAL=10000000 \
        taskset -c 0 "$bin" serve >"$dir/log" 2>&1) &
    local pid=$!
    for _ in $(seq 100); do curl -sf "http://$admin/readyz" >/dev/null && break; sleep 0.1; done
    taskset -c 1 "$driver" setup-users --public "http://$public" --admin "http://$admin" --count 64 \
        --out "$dir/users" >/dev/null
    local recorder=
    if [ "$sampled" = yes ]; then
        (sleep 2.5; perf record -q -F 999 -p "$pid" -o "$dir/perf.data" -- sleep $((duration - 2)) \
            >/dev/null 2>&1) &
        recorder=$!
    fi
    taskset -c 1 "$driver" signin-load --public "http://$public" --users "$dir/users" --concurrency 8 \
        --duration-secs "$duration" --warmup-secs 2 --server-pid "$pid" >"$dir/load.json"
    [ -z "$recorder" ] || wait "$recorder" || true
    kill "$pid"; wait "$pid" 2>/dev/null || true
    if [ "$sampled" = yes ]; then
        perf report -i "$dir/perf.data" --no-children --sort sym 2>/dev/null >"$dir/report.txt"
    else
        echo "100.00%  unsampled" >"$dir/report.txt"
    fi
    python3 - "$dir/load.json" "$dir/report.txt" <<'PY'
import json, re, sys
load = json.load(open(sys.argv[1]))
assert load["errors"] == 0, f"errors during the window: {load['errors']}"
hashing = total = 0.0
for line in open(sys.argv[2]):
    m = re.match(r"\s*([0-9.]+)%\s+\[.\]\s+(.*)", line) or re.match(r"\s*([0-9.]+)%\s+(.*)", line)
    if not m or line.startswith("#"):
        continue
    share = float(m.group(1))
    total += share
    if re.search(r"argon2|memmove", m.group(2)):
        hashing += share
print(load["server_cpu_us_per_signin"], (total - hashing) / total)
PY
    rm -rf "$dir"
}

echo "| run | real: CPU per sign-in | outside argon2id | = ms per sign-in | cheap hash: CPU per sign-in |"
echo "|---|---:|---:|---:|---:|"
for run in $(seq "$runs"); do
    read -r cpu share < <(window 19456 2 yes)
    read -r cheap _ < <(window 64 1 no)
    python3 -c "import sys; c,s,k=map(float,sys.argv[2:]); print(f'| {sys.argv[1]} | {c/1000:.2f} ms | {s*100:.1f} % | {c*s/1000:.2f} ms | {k/1000:.2f} ms |')" \
        "$run" "$cpu" "$share" "$cheap"
done

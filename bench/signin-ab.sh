#!/usr/bin/env bash
# bench/signin-ab.sh ROUNDS OLD NEW — two builds of Tessera side by side on the sign-in load.
#
# The sign-in ratio moves by up to ±10 points from one run to the next on a shared host, far more than one
# change moves it; this compares two release binaries (OLD and NEW, e.g. copies made before and after a
# change) in alternating windows, the order swapped every round, so the host's drift falls on both alike.
# Each window starts the binary pinned to core 0 (driver on core 1), registers 64 customers and drives 8 at
# once through the hosted form for 10 s, on SQLite and on a fresh PostgreSQL database, with
#   cheap  argon2id at m=64 KiB, t=1: the CPU per sign-in is then the work besides hashing;
#   real   Tessera's default argon2id, with the argon2id limit measured on core 0 just before and after:
#          the ratio bench/run.sh signin reports.
# Prints one line per window. Tunables: HASHES ("cheap real"), ENGINES ("sqlite pg"). PostgreSQL: role
# tessera/tessera on 127.0.0.1:5432 that may CREATE DATABASE (scripts/test-env.sh makes it).
set -euo pipefail
rounds=$1 old=$2 new=$3
driver=${CARGO_TARGET_DIR:-/root/.cache/tessera-target}/release/tessera-bench
window() {
    local bin=$1 engine=$2 hash=$3 dir
    dir=$(mktemp -d /tmp/ab.XXXXXX); mkdir -p "$dir/data"
    local public=127.0.0.1:$((20000 + RANDOM % 20000)) admin=127.0.0.1:$((40000 + RANDOM % 20000)) url=
    local key; key=tsk_$(head -c 64 /dev/urandom | base64 | tr -dc 'a-zA-Z0-9' | head -c 48)
    if [ "$engine" = pg ]; then
        local db=ab_$RANDOM$RANDOM
        PGPASSWORD=tessera psql -h 127.0.0.1 -U tessera -d postgres -qc "CREATE DATABASE $db" >/dev/null
        url=postgres://tessera:tessera@127.0.0.1:5432/$db
    fi
    local mem=19456 it=2
    [ "$hash" = cheap ] && mem=64 it=1
    (cd "$dir" && exec env -i PATH="$PATH" HOME="$HOME" TESSERA_PUBLIC_ADDR=$public \
        TESSERA_ADMIN_ADDR=$admin TESSERA_DATA_DIR="$dir/data" TESSERA_BOOTSTRAP_ADMIN_KEY=$key \
        TESSERA_LOG_LEVEL=warn TESSERA_DEV_MODE=true TESSERA_TRUSTED_PROXIES=127.0.0.1/32 \
        ${url:+TESSERA_DATABASE_URL=$url} \
        TESSERA_ARGON2_MEMORY_KIB="$mem" TESSERA_ARGON2_ITERATIONS="$it" \
        TESSERA_QUOTA_FLOW_STARTS_PER_CLIENT=1000000 TESSERA_QUOTA_FLOW_STARTS_GLOBAL=10000000 \
        taskset -c 0 "$bin" serve >"$dir/log" 2>&1) &
    local pid=$!
    for _ in $(seq 100); do curl -sf "http://$admin/readyz" >/dev/null && break; sleep 0.1; done
    taskset -c 1 "$driver" setup-users --public "http://$public" --admin "http://$admin" --count 64 --out "$dir/users" >/dev/null
    local lb= la=
    [ "$hash" = real ] && lb=$(taskset -c 0 "$driver" limit-argon2 --threads 1 --duration-secs 4 | python3 -c 'import json,sys;print(json.load(sys.stdin)["verifications_per_s"])')
    taskset -c 1 "$driver" signin-load --public "http://$public" --users "$dir/users" --concurrency 8 \
        --duration-secs 10 --warmup-secs 2 --server-pid "$pid" >"$dir/load.json"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    [ "$hash" = real ] && la=$(taskset -c 0 "$driver" limit-argon2 --threads 1 --duration-secs 4 | python3 -c 'import json,sys;print(json.load(sys.stdin)["verifications_per_s"])')
    python3 - "$dir/load.json" "$(basename "$bin")" "$engine" "$hash" "$lb" "$la" <<'PY'
import json, sys
l = json.load(open(sys.argv[1]))
b, e, h, lb, la = sys.argv[2:7]
out = f"{b} {e} {h} cpu/signin={l['server_cpu_us_per_signin']:.0f}us rate={l['signins_per_s']:.1f}/s errors={l['errors']}"
if lb and la:
    lim = (float(lb) + float(la)) / 2
    out += f" limit={float(lb):.1f}/{float(la):.1f} ratio={100*l['signins_per_s']/lim:.1f}%"
print(out, flush=True)
PY
    rm -rf "$dir"
    if [ "$engine" = pg ]; then PGPASSWORD=tessera psql -h 127.0.0.1 -U tessera -d postgres -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true; fi
}
for r in $(seq "$rounds"); do
    for hash in ${HASHES:-cheap real}; do
        for engine in ${ENGINES:-sqlite pg}; do
            if [ $((r % 2)) = 1 ]; then pair=("$old" "$new"); else pair=("$new" "$old"); fi
            for bin in "${pair[@]}"; do window "$bin" "$engine" "$hash"; done
        done
    done
done

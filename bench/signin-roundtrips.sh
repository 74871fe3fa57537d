#!/usr/bin/env bash
# bench/signin-roundtrips.sh [DATABASE_URL] — round trips to the database per hosted-form sign-in.
#
# Starts the release server (on SQLite, or on DATABASE_URL, an empty PostgreSQL database) with sqlx's
# statement log, registers two customers, signs them in one at a time for 2 s (GET /login, GET of the
# page, POST of the form) and divides the statements logged by the sign-ins. Every statement sqlx logs is
# one round trip (a multi-statement SQLite query, a PostgreSQL statement of several WITH clauses and a
# BEGIN or COMMIT alike). Background jobs add a few (mail, logout notices), so expect a little over the
# sign-in's own count. The last statements logged go to /tmp/signin-roundtrips-last.txt.
#
# Needs curl and python3; builds nothing (run `cargo build --release -p tessera -p tessera-bench-driver`).
set -euo pipefail
target=${CARGO_TARGET_DIR:-/root/.cache/tessera-target}
bin=$target/release/tessera driver=$target/release/tessera-bench url=${1:-}
dir=$(mktemp -d /tmp/signin-roundtrips.XXXXXX)
key=tsk_$(head -c 64 /dev/urandom | base64 | tr -dc 'a-zA-Z0-9' | head -c 48)
pub=127.0.0.1:$((20000 + RANDOM % 20000)) adm=127.0.0.1:$((40000 + RANDOM % 20000))
env -i PATH="$PATH" HOME="$HOME" TESSERA_PUBLIC_ADDR=$pub TESSERA_ADMIN_ADDR=$adm TESSERA_DATA_DIR=$dir \
  TESSERA_BOOTSTRAP_ADMIN_KEY=$key TESSERA_DEV_MODE=true TESSERA_TRUSTED_PROXIES=127.0.0.1/32 \
  ${url:+TESSERA_DATABASE_URL=$url} TESSERA_LOG_LEVEL=warn,sqlx::query=debug TESSERA_LOG_FORMAT=json \
  "$bin" serve > "$dir/log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "http://$adm/readyz" >/dev/null && break; sleep 0.1; done
"$driver" setup-users --public "http://$pub" --admin "http://$adm" --count 2 --out "$dir/users" >/dev/null
before=$(grep -c '"summary"\|summary=' "$dir/log" || true)
out=$("$driver" signin-load --public "http://$pub" --users "$dir/users" --concurrency 1 --duration-secs 2 --warmup-secs 0)
after=$(grep -c '"summary"\|summary=' "$dir/log" || true)
n=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["signins"])')
kill $pid; wait $pid 2>/dev/null || true
echo "sign-ins: $n, statements: $((after - before)), per sign-in: $(python3 -c "print(round(($after-$before)/$n,2))")"
grep '"summary"\|summary=' "$dir/log" | tail -40 | python3 -c '
import sys,json
for l in sys.stdin:
    try: j=json.loads(l); print(j.get("fields",{}).get("summary") or j)
    except Exception: print(l.strip()[:160])
' > /tmp/signin-roundtrips-last.txt
rm -rf "$dir"

#!/usr/bin/env bash
# Property-based contract fuzzing of Tessera's two OpenAPI documents with Schemathesis.
#
# Starts the debug `tessera` binary on loopback (fresh SQLite data dir, a random bootstrap owner key),
# then runs Schemathesis with every check against
#   - the admin API   (admin listener, /openapi.json, with the bootstrap key), and
#   - the JSON flow API (public listener, /openapi.json).
# Any failure (an undocumented status or content type, a schema-valid request refused, a schema-invalid
# one accepted, a 5xx, ...) fails the script. The last line says PASSED or FAILED.
#
# Arguments: which APIs to fuzz, `admin` and/or `flow` (default: admin).
#
# Environment (all optional):
#   TESSERA_FUZZ_EXAMPLES   test cases per operation and phase (default 40)
#   TESSERA_FUZZ_SEED       Hypothesis seed (default fixed, so CI is reproducible; "random" for a new one)
#   TESSERA_FUZZ_MAX_TIME   time budget per API in seconds (default 240)
#   TESSERA_FUZZ_VENV       where the pinned Schemathesis is installed (default under the cargo target dir)
#   TESSERA_FUZZ_REPORT_DIR where the JUnit reports and server logs go (default a temporary directory)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

SCHEMATHESIS_VERSION=4.32.5
examples=${TESSERA_FUZZ_EXAMPLES:-40}
seed=${TESSERA_FUZZ_SEED:-20261129}
max_time=${TESSERA_FUZZ_MAX_TIME:-240}
target_dir=${CARGO_TARGET_DIR:-$root/target}
venv=${TESSERA_FUZZ_VENV:-$target_dir/schemathesis-$SCHEMATHESIS_VERSION}
started=$(date +%s)
apis=("$@")
if [ "${#apis[@]}" -eq 0 ]; then
    apis=(admin)
fi

say() { printf 'openapi-fuzz: %s\n' "$*"; }
finish() { # finish <PASSED|FAILED> <detail>
    printf '\nopenapi-fuzz: %s: %s (%ss)\n' "$1" "$2" "$(($(date +%s) - started))"
}

if [ "$seed" = random ]; then
    seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
fi

# --- Schemathesis, pinned, in its own virtualenv -------------------------------------------------
python=""
for p in python3.11 python3.12 python3.13 python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
        python=$p
        break
    fi
done
if [ -z "$python" ]; then
    finish FAILED "no Python 3.10+ to run Schemathesis"
    exit 1
fi
if ! "$venv/bin/st" --version 2>/dev/null | grep -qF "$SCHEMATHESIS_VERSION"; then
    say "installing schemathesis==$SCHEMATHESIS_VERSION into $venv"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    if ! "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"; then
        finish FAILED "could not install schemathesis==$SCHEMATHESIS_VERSION from PyPI"
        exit 1
    fi
fi
say "$("$venv/bin/st" --version)"

# --- A real Tessera on loopback ------------------------------------------------------------------
cargo build --quiet --locked -p tessera
bin=$target_dir/debug/tessera

work=$(mktemp -d)
report_dir=${TESSERA_FUZZ_REPORT_DIR:-$work/reports}
mkdir -p "$report_dir"
server_pid=""
keep_work=0 # a failed run keeps its reports and server logs
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [ -z "${TESSERA_FUZZ_REPORT_DIR:-}" ] && [ "$keep_work" = 0 ]; then
        rm -rf "$work"
    fi
}
trap cleanup EXIT

key="tsk_$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$key" >"$work/admin.key"
chmod 600 "$work/admin.key"
env TESSERA_DATA_DIR="$work/data" \
    TESSERA_PUBLIC_ADDR=127.0.0.1:0 \
    TESSERA_ADMIN_ADDR=127.0.0.1:0 \
    TESSERA_BOOTSTRAP_ADMIN_KEY_FILE="$work/admin.key" \
    TESSERA_LOG_LEVEL=warn \
    "$bin" serve >"$report_dir/server.out" 2>"$report_dir/server.err" &
server_pid=$!

public="" admin=""
for _ in $(seq 1 300); do
    if grep -q '^Serving' "$report_dir/server.out" 2>/dev/null; then
        public=$(sed -n 's|^ *public: *\(http://[^ ]*\).*|\1|p' "$report_dir/server.out" | head -n 1)
        admin=$(sed -n 's|^ *admin: *\(http://[^/ ]*\).*|\1|p' "$report_dir/server.out" | head -n 1)
        break
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        break
    fi
    sleep 0.1
done
if [ -z "$public" ] || [ -z "$admin" ]; then
    cat "$report_dir/server.out" "$report_dir/server.err" >&2 || true
    finish FAILED "tessera did not start"
    exit 1
fi
say "tessera on $public (public) and $admin (admin); seed $seed, $examples examples per operation"

# --- Fuzz both documents -------------------------------------------------------------------------
failed=()
fuzz() { # fuzz <name> <schema url> [st options...]
    local name=$1 url=$2
    shift 2
    say "== $name: $url"
    # From the scratch directory: Schemathesis and Hypothesis keep their caches in the working directory.
    if (cd "$work" && "$venv/bin/st" --config-file "$root/scripts/openapi-fuzz.toml" run "$url" \
        --checks all \
        --max-examples "$examples" \
        --max-time "$max_time" \
        --seed "$seed" \
        --workers 1 \
        --request-timeout 10 \
        --no-color \
        --report junit --report-junit-path "$report_dir/$name.junit.xml" \
        "$@"); then
        say "$name: no failures"
    else
        failed+=("$name")
    fi
}

for api in "${apis[@]}"; do
    case $api in
    admin) fuzz admin-api "$admin/openapi.json" -H "Authorization: Bearer $key" ;;
    flow) fuzz flow-api "$public/openapi.json" ;;
    *) failed+=("unknown API $api") ;;
    esac
done

if ! kill -0 "$server_pid" 2>/dev/null; then
    failed+=("server exited during the run")
fi
if grep -qi 'panicked' "$report_dir/server.err"; then
    grep -i -m 5 'panicked' "$report_dir/server.err" >&2
    failed+=("server panicked")
fi

if [ "${#failed[@]}" -eq 0 ]; then
    finish PASSED "${apis[*]} API(s) match their OpenAPI documents (schemathesis $SCHEMATHESIS_VERSION, seed $seed)"
else
    keep_work=1
    finish FAILED "$(IFS=,; echo "${failed[*]}") (seed $seed; reports and server log in $report_dir)"
    exit 1
fi

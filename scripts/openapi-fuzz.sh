#!/usr/bin/env bash
# Property-based contract fuzzing of Tessera's two OpenAPI documents with Schemathesis.
#
# Starts the debug `tessera` binary on loopback in production mode (a fresh database: PostgreSQL when
# TESSERA_TEST_PG_URL is set, as in CI, else SQLite; a random bootstrap owner key; mail to a loopback
# SMTP sink), then runs Schemathesis with every check against
#   - the admin API   (admin listener, /openapi.json, with the bootstrap key; openapi-fuzz.admin.toml), and
#   - the JSON flow API (public listener, /openapi.json, in the `default` tenant, with a customer signed
#     up through the flows for the settings flow and the session operations; openapi-fuzz.flow.toml).
# Any failure (an undocumented status or content type, a schema-valid request refused, a schema-invalid
# one accepted, a 5xx, ...) fails the script. The last line says PASSED or FAILED.
#
# The quotas on flow starts, mails and password hashes per client (RL-06) are raised for the run: every request comes
# from 127.0.0.1, and at the defaults (300 starts per 10 minutes) the run would spend most of its time
# on 429s instead of flows. 429 is still in the document (it is a real answer), and the quotas are
# proven by the rl_06 tests.
#
# Arguments: which APIs to fuzz, `admin` and/or `flow` (default: admin).
#
# Environment (all optional):
#   TESSERA_FUZZ_EXAMPLES   test cases per operation and phase (default 40)
#   TESSERA_FUZZ_SEED       Hypothesis seed (default fixed, so CI is reproducible; "random" for a new one)
#   TESSERA_FUZZ_MAX_TIME   time budget per API in seconds (default 200)
#   TESSERA_FUZZ_VENV       where the pinned Schemathesis is installed (default under the cargo target dir)
#   TESSERA_FUZZ_REPORT_DIR where the JUnit reports and server logs go (default a temporary directory)
#   TESSERA_TEST_PG_URL     a PostgreSQL database whose role may CREATE DATABASE: the server runs on a
#                           fresh database made there (and dropped after), as production does; PostgreSQL
#                           refuses what SQLite stores (a NUL in text), so it finds more
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

SCHEMATHESIS_VERSION=4.32.5
examples=${TESSERA_FUZZ_EXAMPLES:-40}
seed=${TESSERA_FUZZ_SEED:-20261129}
max_time=${TESSERA_FUZZ_MAX_TIME:-200}
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
mkdir -p "$report_dir" "$work/mail"
server_pid="" sink_pid="" pg_db=""
keep_work=0 # a failed run keeps its reports and server logs
cleanup() {
    for pid in $server_pid $sink_pid; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    if [ -n "$pg_db" ]; then
        psql "$TESSERA_TEST_PG_URL" -X -q -c "DROP DATABASE IF EXISTS $pg_db" >/dev/null 2>&1 || true
    fi
    if [ -z "${TESSERA_FUZZ_REPORT_DIR:-}" ] && [ "$keep_work" = 0 ]; then
        rm -rf "$work"
    fi
}
trap cleanup EXIT

# Mail goes to a loopback SMTP sink, so that a customer can sign up with the code it was sent.
"$python" "$root/scripts/openapi-fuzz-customer.py" sink "$work/smtp.port" "$work/mail" \
    2>"$report_dir/smtp.err" &
sink_pid=$!
for _ in $(seq 1 100); do
    [ -s "$work/smtp.port" ] && break
    sleep 0.1
done
if [ ! -s "$work/smtp.port" ]; then
    cat "$report_dir/smtp.err" >&2 || true
    finish FAILED "the SMTP sink did not start"
    exit 1
fi

db_env=() # empty: SQLite in the data directory
if [ -n "${TESSERA_TEST_PG_URL:-}" ]; then
    pg_db="tessera_fuzz_$$_$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
    if ! psql "$TESSERA_TEST_PG_URL" -X -q -c "CREATE DATABASE $pg_db" >"$report_dir/psql.err" 2>&1; then
        cat "$report_dir/psql.err" >&2
        pg_db=""
        finish FAILED "could not create a PostgreSQL database with TESSERA_TEST_PG_URL"
        exit 1
    fi
    # The same server and credentials, the new database (the URL's path, before any query).
    db_env=("TESSERA_DATABASE_URL=$(printf '%s' "$TESSERA_TEST_PG_URL" | sed -E "s|^([^?]*/)[^/?]*|\1$pg_db|")")
fi

key="tsk_$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$key" >"$work/admin.key"
chmod 600 "$work/admin.key"
env TESSERA_DATA_DIR="$work/data" \
    "${db_env[@]}" \
    TESSERA_PUBLIC_ADDR=127.0.0.1:0 \
    TESSERA_ADMIN_ADDR=127.0.0.1:0 \
    TESSERA_BOOTSTRAP_ADMIN_KEY_FILE="$work/admin.key" \
    TESSERA_SMTP_URL="smtp://127.0.0.1:$(cat "$work/smtp.port")" \
    TESSERA_QUOTA_FLOW_STARTS_PER_CLIENT=10000000 \
    TESSERA_QUOTA_FLOW_STARTS_GLOBAL=10000000 \
    TESSERA_QUOTA_MAILS_PER_CLIENT=10000000 \
    TESSERA_QUOTA_MAILS_GLOBAL=10000000 \
    TESSERA_QUOTA_PASSWORD_HASHES_PER_CLIENT=10000000 \
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
engine=SQLite
if [ -n "$pg_db" ]; then
    engine="PostgreSQL (database $pg_db)"
fi
say "tessera on $public (public) and $admin (admin), on $engine; seed $seed, $examples examples per operation"

# --- A tenant of its own for the admin API -------------------------------------------------------
# Every admin operation under a tenant runs against `fuzz` (openapi-fuzz.admin.toml), so that it reaches
# identities, policies and organizations instead of stopping at 404; the flow API keeps `default`.
if [[ " ${apis[*]} " == *" admin "* ]]; then
    if ! "$python" "$root/scripts/openapi-fuzz-customer.py" tenant "$admin" "$work/admin.key" fuzz; then
        finish FAILED "could not create the fuzz tenant through the admin API"
        exit 1
    fi
fi

# --- A signed-in customer for the flow API --------------------------------------------------------
# Two sessions of one customer (signed up, then signed in): one for the settings flow and the session
# list, one for signing out, which ends the session it is sent with.
if [[ " ${apis[*]} " == *" flow "* ]]; then
    password="fuzz $(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
    customer() {
        "$python" "$root/scripts/openapi-fuzz-customer.py" session "$public" "$work/mail" \
            fuzz-customer@example.com "$password"
    }
    if ! TESSERA_FUZZ_SESSION=$(customer) || ! TESSERA_FUZZ_SIGN_OUT_SESSION=$(customer); then
        finish FAILED "could not sign a customer up through the flow API"
        exit 1
    fi
    export TESSERA_FUZZ_SESSION TESSERA_FUZZ_SIGN_OUT_SESSION
fi

# --- Fuzz the documents --------------------------------------------------------------------------
failed=()
fuzz() { # fuzz <api> <name> <schema url> [st options...]
    local api=$1 name=$2 url=$3
    shift 3
    say "== $name: $url"
    # From the scratch directory: Schemathesis and Hypothesis keep their caches in the working directory.
    if (cd "$work" && "$venv/bin/st" --config-file "$root/scripts/openapi-fuzz.$api.toml" run "$url" \
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
    admin) fuzz admin admin-api "$admin/openapi.json" -H "Authorization: Bearer $key" ;;
    flow) fuzz flow flow-api "$public/openapi.json" ;;
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

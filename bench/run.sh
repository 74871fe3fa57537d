#!/usr/bin/env bash
# bench/run.sh SCENARIO — Tessera's benchmarks (see bench/README.md).
#
#   bench/run.sh startup   startup to ready on an empty SQLite database; idle RSS
#   bench/run.sh admin     admin API identity create/get on SQLite (full, normal) and PostgreSQL,
#                          against the axum empty-response and raw SQLite insert limits
#   bench/run.sh signin    password sign-in through the hosted form on SQLite and PostgreSQL against the
#                          argon2id limit; the sign-in page's p99 at 200 views/s; enumeration timing
#   bench/run.sh oidc      OIDC scenarios S1-S6 (client_credentials, discovery, JWKS, introspection, userinfo,
#                          code flow with a session) side by side with the oidc-provider peer (Node, npm ci
#                          into bench/peers/oidc-provider), against the empty-response and ES256 limits
#   bench/run.sh all       startup, admin and signin (not oidc)
#
# Builds in release mode, starts everything it measures on 127.0.0.1, stops what it started, prints
# Markdown tables. Tunables (environment): BENCH_RUNS (3), BENCH_DURATION (10 s per load window),
# BENCH_WARMUP (2 s), BENCH_CONCURRENCY (32), BENCH_STARTUP_RUNS (5), BENCH_MODES (pinned,unpinned),
# BENCH_SQLITE_LIMIT_SECS (5 s: also the argon2id limit's length), BENCH_OUT (raw JSON path),
# BENCH_NO_PG=1 (skip PostgreSQL), BENCH_SIGNIN_CONCURRENCY (8), BENCH_PAGE_RATE (200 views/s),
# BENCH_ENUM_SAMPLES (5000 per class; 0 skips the enumeration timing),
# BENCH_QUIET_WAIT (20 s: before each measurement, wait up to this long for other work on the machine to
# drop below BENCH_QUIET_THRESHOLD, 0.3 cores), BENCH_OIDC_SCENARIOS (s1,s2,s3,s4,s5,s6), NODE (node).
set -euo pipefail

usage() {
    echo "usage: bench/run.sh startup|admin|signin|oidc|all" >&2
    exit 2
}

[ $# -eq 1 ] || usage
scenario=$1
case "$scenario" in startup | admin | signin | oidc | all) ;; *) usage ;; esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/root/.cache/tessera-target}

if [ "$scenario" != startup ] && [ "${BENCH_NO_PG:-0}" != 1 ]; then
    # Local PostgreSQL for the PostgreSQL rows; exports TESSERA_TEST_PG_URL (a role that may CREATE DATABASE).
    # shellcheck source=/dev/null
    if ! source "$root/scripts/test-env.sh"; then
        echo "bench: PostgreSQL is not available; the PostgreSQL rows will be skipped" >&2
        unset TESSERA_TEST_PG_URL
    fi
fi
if [ "${BENCH_NO_PG:-0}" = 1 ]; then
    unset TESSERA_TEST_PG_URL
fi

if ! command -v taskset >/dev/null 2>&1; then
    echo "bench: taskset (util-linux) is missing; measuring unpinned only" >&2
    BENCH_MODES=unpinned
fi

peer_dir="$root/bench/peers/oidc-provider"
node=${NODE:-node}
if [ "$scenario" = oidc ]; then
    # The peer, at the exact versions of its committed package-lock.json.
    if command -v "$node" >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
        echo "bench: installing the peer (npm ci in bench/peers/oidc-provider; node $("$node" --version))" >&2
        if ! (cd "$peer_dir" && npm ci --no-audit --no-fund --loglevel=error >&2); then
            echo "bench: npm ci failed; the peer will not be measured" >&2
        fi
    else
        echo "bench: node or npm is missing; the peer will not be measured" >&2
    fi
fi

echo "bench: building release binaries (cargo build --release -p tessera -p tessera-bench-driver)" >&2
cargo build --release -p tessera -p tessera-bench-driver >&2

bin="$CARGO_TARGET_DIR/release"
out=${BENCH_OUT:-$CARGO_TARGET_DIR/tessera-bench/$scenario-$(date -u +%Y%m%dT%H%M%SZ).json}

{
    echo "bench: rustc: $(rustc --version)"
    echo "bench: git: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet 2>/dev/null || echo ' (dirty tree)')"
}

exec "$bin/tessera-bench" suite \
    --scenario "$scenario" \
    --tessera "$bin/tessera" \
    --runs "${BENCH_RUNS:-3}" \
    --startup-runs "${BENCH_STARTUP_RUNS:-5}" \
    --duration-secs "${BENCH_DURATION:-10}" \
    --warmup-secs "${BENCH_WARMUP:-2}" \
    --concurrency "${BENCH_CONCURRENCY:-32}" \
    --sqlite-limit-secs "${BENCH_SQLITE_LIMIT_SECS:-5}" \
    --modes "${BENCH_MODES:-pinned,unpinned}" \
    --quiet-wait-secs "${BENCH_QUIET_WAIT:-20}" \
    --quiet-threshold "${BENCH_QUIET_THRESHOLD:-0.3}" \
    --signin-concurrency "${BENCH_SIGNIN_CONCURRENCY:-8}" \
    --page-rate "${BENCH_PAGE_RATE:-200}" \
    --enumeration-samples "${BENCH_ENUM_SAMPLES:-5000}" \
    --peer-dir "$peer_dir" \
    --node "$node" \
    --oidc-ops "${BENCH_OIDC_SCENARIOS:-s1,s2,s3,s4,s5,s6}" \
    --out "$out"

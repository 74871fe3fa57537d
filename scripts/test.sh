#!/usr/bin/env bash
# Run the Tessera test suite (the README's test command).
# Extra arguments are passed to the test runner, e.g. `scripts/test.sh -p tessera-core`.
#
# Provisions PostgreSQL (and chromium for the browser tests) via scripts/test-env.sh, and says which
# of the two failed:
#   * PostgreSQL: the run aborts when TESSERA_REQUIRE_PG=1 (as in CI); otherwise it continues without
#     TESSERA_TEST_PG_URL and the PostgreSQL half of the suite is skipped.
#   * chromium: the run aborts when TESSERA_REQUIRE_BROWSER=1 (as in CI); otherwise the browser tests
#     print a notice and skip.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

env_rc=0
# shellcheck source=scripts/test-env.sh
source scripts/test-env.sh || env_rc=$?
case "$env_rc" in
0) ;;
3)
    if [ "${TESSERA_REQUIRE_BROWSER:-0}" = 1 ]; then
        echo "test.sh: chromium is required (TESSERA_REQUIRE_BROWSER=1) but could not be installed; PostgreSQL is fine." >&2
        exit 1
    fi
    echo "test.sh: WARNING: chromium could not be installed; the browser tests will be skipped (PostgreSQL is fine)." >&2
    ;;
*)
    if [ "${TESSERA_REQUIRE_PG:-0}" = 1 ]; then
        echo "test.sh: PostgreSQL is required (TESSERA_REQUIRE_PG=1) but the test environment could not be set up." >&2
        exit 1
    fi
    echo "test.sh: WARNING: PostgreSQL unavailable; PostgreSQL tests will be skipped." >&2
    unset TESSERA_TEST_PG_URL
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/root/.cache/tessera-target}"
    ;;
esac

if cargo nextest --version >/dev/null 2>&1; then
    echo "test.sh: runner: cargo nextest ($(cargo nextest --version 2>/dev/null | head -n 1))"
    exec cargo nextest run --workspace --locked --no-fail-fast "$@"
else
    echo "test.sh: runner: cargo test (cargo-nextest not installed)"
    exec cargo test --workspace --locked --no-fail-fast "$@"
fi

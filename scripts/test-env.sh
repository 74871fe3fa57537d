#!/usr/bin/env bash
# scripts/test-env.sh — provision the local test environment for Tessera.
#
# Usage:
#   source scripts/test-env.sh     # exports the variables into your shell
#   scripts/test-env.sh            # prints the `export ...` lines (eval-able)
#   eval "$(scripts/test-env.sh)"
#
# What it does (idempotent; a fast no-op when everything is already up):
#   * installs Debian's `postgresql` with apt-get if the server is missing;
#   * picks a PostgreSQL cluster (pg_lsclusters), creates one with
#     pg_createcluster if there is none, starts it with pg_ctlcluster
#     (no systemd needed) and makes sure it listens on 127.0.0.1;
#   * ensures role `tessera` (password `tessera`, LOGIN, CREATEDB) and the
#     database `tessera_test` owned by it, and that password auth over TCP
#     127.0.0.1 works for that role;
#   * exports TESSERA_TEST_PG_URL and CARGO_TARGET_DIR;
#   * verifies the connection with psql and fails (non-zero) if it does not work.
#
# Optional overrides (environment):
#   TESSERA_PG_VERSION / TESSERA_PG_CLUSTER  pick a specific cluster
#                                            (created if it does not exist)
#   TESSERA_BROWSER_TESTS=0                  skip installing chromium for the browser tests
#                                            (installed by default when missing)
#
# Exit status (or return status when sourced): 0 when everything is ready; 1 when PostgreSQL could not
# be provisioned or reached; 3 when PostgreSQL is ready (and exported) but chromium could not be
# installed, so callers can tell the two apart (scripts/test.sh and .ci/run do).
#
# Progress messages go to stderr; only the export lines go to stdout.
# Must run as root (or with passwordless sudo) when something has to be
# installed, started or created.

if [ -z "${BASH_VERSION:-}" ]; then
    echo "test-env.sh: this script requires bash" >&2
    # shellcheck disable=SC2317
    return 1 2>/dev/null || exit 1
fi

_tessera_log() { printf 'test-env: %s\n' "$*" >&2; }
_tessera_err() { printf 'test-env: ERROR: %s\n' "$*" >&2; }

# Run a command as root (directly, or via sudo when not root).
_tessera_as_root() {
    if [ "${EUID:-$(id -u)}" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        _tessera_err "need root to run: $*"
        return 1
    fi
}

# Run a command as the postgres OS user (from / to avoid cwd permission noise).
_tessera_as_postgres() {
    (
        cd / || exit 1
        if [ "${EUID:-$(id -u)}" -eq 0 ]; then
            if command -v runuser >/dev/null 2>&1; then
                runuser -u postgres -- "$@"
            else
                su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
            fi
        elif [ "$(id -un)" = postgres ]; then
            "$@"
        else
            sudo -n -u postgres -- "$@"
        fi
    )
}

# psql as the postgres superuser over the local socket of the chosen cluster.
_tessera_su_psql() {
    _tessera_as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$_tessera_pg_port" -d postgres "$@"
}

_tessera_apt_updated=0
# Quietly install Debian packages; show the tail of the log on failure.
_tessera_apt_install() {
    local log rc=0
    log=$(mktemp "${TMPDIR:-/tmp}/tessera-apt.XXXXXX.log") || return 1
    if [ "$_tessera_apt_updated" -eq 0 ]; then
        _tessera_log "apt-get update ..."
        if ! _tessera_as_root env DEBIAN_FRONTEND=noninteractive apt-get update \
            </dev/null >>"$log" 2>&1; then
            _tessera_err "apt-get update failed; last lines of $log:"
            tail -n 30 "$log" >&2
            return 1
        fi
        _tessera_apt_updated=1
    fi
    _tessera_log "apt-get install -y $* ..."
    _tessera_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" \
        </dev/null >>"$log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        _tessera_err "apt-get install $* failed (exit $rc); last lines of $log:"
        tail -n 40 "$log" >&2
        return 1
    fi
    rm -f "$log"
}

# True when the PostgreSQL server (Debian layout) and cluster tools are present.
_tessera_pg_server_installed() {
    command -v pg_ctlcluster >/dev/null 2>&1 || return 1
    command -v pg_lsclusters >/dev/null 2>&1 || return 1
    command -v psql >/dev/null 2>&1 || return 1
    local f
    for f in /usr/lib/postgresql/*/bin/postgres; do
        [ -x "$f" ] && return 0
    done
    return 1
}

_tessera_ensure_pg_installed() {
    _tessera_pg_server_installed && return 0
    _tessera_log "PostgreSQL server not found; installing Debian's postgresql package"
    _tessera_apt_install postgresql || return 1
    hash -r
    if ! _tessera_pg_server_installed; then
        _tessera_err "postgresql was installed but pg_ctlcluster/postgres are still missing"
        return 1
    fi
}

# Highest installed server major version (e.g. 15).
_tessera_pg_installed_version() {
    local d best=""
    for d in /usr/lib/postgresql/*/bin/postgres; do
        [ -x "$d" ] || continue
        d=${d#/usr/lib/postgresql/}
        d=${d%%/*}
        if [ -z "$best" ] || [ "${d%%.*}" -gt "${best%%.*}" ]; then best=$d; fi
    done
    [ -n "$best" ] && printf '%s\n' "$best"
}

# Sets _tessera_pg_ver, _tessera_pg_cluster, _tessera_pg_port, _tessera_pg_status,
# _tessera_pg_logfile from pg_lsclusters. Returns 1 if no matching cluster exists.
# Preference: requested cluster > online cluster with highest version > highest version.
_tessera_pg_pick_cluster() {
    local want_ver="${TESSERA_PG_VERSION:-}" want_name="${TESSERA_PG_CLUSTER:-}"
    local ver name port status logfile
    local best_score=-1 score
    _tessera_pg_ver="" _tessera_pg_cluster="" _tessera_pg_port="" _tessera_pg_status="" _tessera_pg_logfile=""
    while read -r ver name port status _ _ logfile; do
        [ -n "$ver" ] || continue
        [ -z "$want_ver" ] || [ "$ver" = "$want_ver" ] || continue
        [ -z "$want_name" ] || [ "$name" = "$want_name" ] || continue
        score=$(( ${ver%%.*} * 10 ))
        case "$status" in online*) score=$((score + 1000000)) ;; esac
        if [ "$score" -gt "$best_score" ]; then
            best_score=$score
            _tessera_pg_ver=$ver _tessera_pg_cluster=$name _tessera_pg_port=$port
            _tessera_pg_status=$status _tessera_pg_logfile=$logfile
        fi
    done < <(pg_lsclusters -h 2>/dev/null)
    [ -n "$_tessera_pg_cluster" ]
}

_tessera_pg_ensure_cluster() {
    _tessera_pg_pick_cluster && return 0
    local ver="${TESSERA_PG_VERSION:-}" name="${TESSERA_PG_CLUSTER:-main}" out
    [ -n "$ver" ] || ver=$(_tessera_pg_installed_version) || true
    if [ -z "$ver" ]; then
        _tessera_err "no PostgreSQL server version found under /usr/lib/postgresql"
        return 1
    fi
    _tessera_log "no PostgreSQL cluster found; creating cluster $ver/$name"
    if ! out=$(_tessera_as_root pg_createcluster --locale=C.UTF-8 "$ver" "$name" 2>&1); then
        _tessera_err "pg_createcluster $ver $name failed:"
        printf '%s\n' "$out" >&2
        return 1
    fi
    if ! _tessera_pg_pick_cluster; then
        _tessera_err "cluster $ver/$name was created but pg_lsclusters does not show it"
        return 1
    fi
}

_tessera_pg_start() {
    local out rc=0
    _tessera_log "starting PostgreSQL cluster $_tessera_pg_ver/$_tessera_pg_cluster (port $_tessera_pg_port)"
    # 9>&-: the postmaster must not inherit the provisioning lock fd.
    out=$(_tessera_as_root pg_ctlcluster "$_tessera_pg_ver" "$_tessera_pg_cluster" start 2>&1 9>&-) || rc=$?
    if [ "$rc" -ne 0 ]; then
        # pg_ctlcluster exits 2 when the server is already running.
        if _tessera_as_root pg_ctlcluster "$_tessera_pg_ver" "$_tessera_pg_cluster" status >/dev/null 2>&1; then
            return 0
        fi
        _tessera_err "pg_ctlcluster $_tessera_pg_ver $_tessera_pg_cluster start failed (exit $rc):"
        printf '%s\n' "$out" >&2
        if [ -n "$_tessera_pg_logfile" ] && [ -r "$_tessera_pg_logfile" ]; then
            _tessera_err "last lines of $_tessera_pg_logfile:"
            tail -n 30 "$_tessera_pg_logfile" >&2
        fi
        return 1
    fi
}

# Wait until the server accepts TCP connections on 127.0.0.1:<port>.
# Gives up early (returns 2) once the Unix socket answers but TCP does not.
_tessera_pg_wait_tcp() {
    local tries=${1:-30} i
    for ((i = 0; i < tries; i++)); do
        pg_isready -q -h 127.0.0.1 -p "$_tessera_pg_port" -U postgres -d postgres -t 2 >/dev/null 2>&1 && return 0
        if ((i >= 2)) && _tessera_as_postgres pg_isready -q -p "$_tessera_pg_port" -t 2 >/dev/null 2>&1; then
            return 2
        fi
        sleep 0.5
    done
    return 1
}

# Make the server listen on 127.0.0.1 if it does not (e.g. listen_addresses='').
_tessera_pg_ensure_tcp() {
    _tessera_pg_wait_tcp 30 && return 0
    local la
    la=$(_tessera_su_psql -tAc 'SHOW listen_addresses' 2>/dev/null) || {
        _tessera_err "PostgreSQL $_tessera_pg_ver/$_tessera_pg_cluster is not reachable on its local socket either"
        return 1
    }
    _tessera_log "server not reachable on 127.0.0.1:$_tessera_pg_port (listen_addresses='$la'); setting listen_addresses='127.0.0.1' and restarting"
    _tessera_su_psql -c "ALTER SYSTEM SET listen_addresses = '127.0.0.1'" || return 1
    _tessera_as_root pg_ctlcluster "$_tessera_pg_ver" "$_tessera_pg_cluster" restart >&2 9>&- || return 1
    if ! _tessera_pg_wait_tcp 30; then
        _tessera_err "PostgreSQL still not accepting TCP connections on 127.0.0.1:$_tessera_pg_port"
        return 1
    fi
}

_tessera_pg_ensure_role_db() {
    _tessera_su_psql <<'SQL' || { _tessera_err "could not create/update role tessera"; return 1; }
SET password_encryption = 'scram-sha-256';
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'tessera') THEN
    CREATE ROLE tessera LOGIN CREATEDB PASSWORD 'tessera';
  ELSE
    ALTER ROLE tessera LOGIN CREATEDB PASSWORD 'tessera';
  END IF;
END
$$;
SQL
    local exists
    exists=$(_tessera_su_psql -tAc "SELECT 1 FROM pg_catalog.pg_database WHERE datname = 'tessera_test'") || return 1
    if [ "$exists" != 1 ]; then
        _tessera_log "creating database tessera_test"
        _tessera_su_psql -c "CREATE DATABASE tessera_test OWNER tessera ENCODING 'UTF8' TEMPLATE template0 LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'" ||
            { _tessera_err "could not create database tessera_test"; return 1; }
    else
        _tessera_su_psql -c "ALTER DATABASE tessera_test OWNER TO tessera" || return 1
    fi
}

# Query over TCP with the test URL; prints the result of the check query.
_tessera_pg_check_url() {
    PGCONNECT_TIMEOUT=5 psql "$1" -X -q -tA -v ON_ERROR_STOP=1 \
        -c "SELECT rolcreatedb FROM pg_catalog.pg_roles WHERE rolname = current_user" 2>&1
}

# If password auth over 127.0.0.1 fails, add a scram rule for role tessera to
# the top of pg_hba.conf (once, marked) and reload.
_tessera_pg_ensure_hba() {
    local url=$1 out hba
    out=$(_tessera_pg_check_url "$url") && [ "$out" = t ] && return 0
    case "$out" in
        *"no pg_hba.conf entry"* | *"authentication failed"* | *"rejects connection"*) ;;
        *) return 0 ;; # not an auth problem; the final verification reports it
    esac
    hba=$(_tessera_su_psql -tAc 'SHOW hba_file') || return 1
    if grep -q 'tessera test-env' "$hba" 2>/dev/null; then
        _tessera_err "password auth for tessera@127.0.0.1 fails although $hba already has the test-env rule:"
        printf '%s\n' "$out" >&2
        return 1
    fi
    _tessera_log "password auth over 127.0.0.1 does not work ($out); adding a scram-sha-256 rule for role tessera to $hba"
    local tmp
    tmp=$(mktemp) || return 1
    {
        printf '# tessera test-env: password auth for the test role over loopback (added by scripts/test-env.sh)\n'
        printf 'host    all             tessera         127.0.0.1/32            scram-sha-256\n'
        cat "$hba"
    } >"$tmp" || return 1
    # shellcheck disable=SC2016  # $1/$2 expand in the inner sh
    _tessera_as_root sh -c 'cat "$1" > "$2"' sh "$tmp" "$hba" || { rm -f "$tmp"; return 1; }
    rm -f "$tmp"
    _tessera_su_psql -tAc 'SELECT pg_reload_conf()' >/dev/null || return 1
    sleep 0.5
}

# ---------------------------------------------------------------------------
# Browser tests (crates/tessera/tests/it/browser.rs) drive Debian's chromium
# over the DevTools protocol (no chromedriver needed). Installs it when
# /usr/bin/chromium is missing; a no-op otherwise. Skipped when
# TESSERA_BROWSER_TESTS=0.
# ---------------------------------------------------------------------------
ensure_chromium() {
    if [ -x /usr/bin/chromium ]; then
        return 0
    fi
    _tessera_log "installing chromium for the browser tests (TESSERA_BROWSER_TESTS=0 skips this)"
    _tessera_apt_install chromium
}

_tessera_env_main() {
    # Build cache outside the clone so a clean CI checkout does not rebuild cold.
    if [ -z "${CARGO_TARGET_DIR:-}" ]; then
        if [ "${EUID:-$(id -u)}" -eq 0 ]; then
            CARGO_TARGET_DIR=/root/.cache/tessera-target
        else
            CARGO_TARGET_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/tessera-target"
        fi
    fi
    export CARGO_TARGET_DIR
    mkdir -p "$CARGO_TARGET_DIR" 2>/dev/null || true

    _tessera_ensure_pg_installed || return 1
    _tessera_pg_ensure_cluster || return 1

    local url="postgres://tessera:tessera@127.0.0.1:${_tessera_pg_port}/tessera_test"

    # Fast path: cluster online and the test role can already log in over TCP.
    local out
    if [[ "$_tessera_pg_status" != online* ]] || ! out=$(_tessera_pg_check_url "$url") || [ "$out" != t ]; then
        # Slow path (in a subshell so the lock fd is released on every exit);
        # flock serializes concurrent provisioning runs.
        (
            if command -v flock >/dev/null 2>&1; then
                exec 9>"${TMPDIR:-/tmp}/tessera-test-env.lock" && flock -w 120 9
            fi
            if [[ "$_tessera_pg_status" != online* ]]; then
                _tessera_pg_start || exit 1
            fi
            _tessera_pg_ensure_tcp &&
                _tessera_pg_ensure_role_db &&
                _tessera_pg_ensure_hba "$url"
        ) || return 1
    fi

    TESSERA_TEST_PG_URL=$url
    export TESSERA_TEST_PG_URL

    # Final verification.
    if ! out=$(PGCONNECT_TIMEOUT=5 psql "$TESSERA_TEST_PG_URL" -X -q -tA -c 'select 1' 2>&1) || [ "$out" != 1 ]; then
        _tessera_err "cannot connect to PostgreSQL with TESSERA_TEST_PG_URL=$TESSERA_TEST_PG_URL"
        printf '%s\n' "$out" >&2
        _tessera_err "cluster: $_tessera_pg_ver/$_tessera_pg_cluster; check 'pg_lsclusters' and ${_tessera_pg_logfile:-the server log}"
        return 1
    fi

    if [ "${TESSERA_BROWSER_TESTS:-1}" != 0 ] && ! ensure_chromium; then
        _tessera_err "chromium could not be installed (PostgreSQL is ready); the browser tests cannot run"
        return 3
    fi
    return 0
}

_tessera_env_cleanup() {
    unset -f _tessera_log _tessera_err _tessera_as_root _tessera_as_postgres _tessera_su_psql \
        _tessera_apt_install _tessera_pg_server_installed _tessera_ensure_pg_installed \
        _tessera_pg_installed_version _tessera_pg_pick_cluster _tessera_pg_ensure_cluster \
        _tessera_pg_start _tessera_pg_wait_tcp _tessera_pg_ensure_tcp _tessera_pg_ensure_role_db \
        _tessera_pg_check_url _tessera_pg_ensure_hba _tessera_env_main _tessera_env_cleanup
    unset _tessera_apt_updated _tessera_pg_ver _tessera_pg_cluster _tessera_pg_port \
        _tessera_pg_status _tessera_pg_logfile
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    # Executed: provision, then print the export lines.
    set -uo pipefail
    _tessera_env_rc=0
    _tessera_env_main || _tessera_env_rc=$?
    [ "$_tessera_env_rc" -eq 0 ] || [ "$_tessera_env_rc" -eq 3 ] || _tessera_env_rc=1
    if [ "$_tessera_env_rc" -eq 1 ]; then
        _tessera_err "test environment setup failed: PostgreSQL is not available"
        exit 1
    fi
    printf 'export TESSERA_TEST_PG_URL=%q\n' "$TESSERA_TEST_PG_URL"
    printf 'export CARGO_TARGET_DIR=%q\n' "$CARGO_TARGET_DIR"
    exit "$_tessera_env_rc"
else
    # Sourced: export into the caller's shell; never exit it.
    # (Called in an `if` so a caller's `set -e` does not abort mid-way.)
    _tessera_env_rc=0
    _tessera_env_main || _tessera_env_rc=$?
    [ "$_tessera_env_rc" -eq 0 ] || [ "$_tessera_env_rc" -eq 3 ] || _tessera_env_rc=1
    if [ "$_tessera_env_rc" -eq 1 ]; then
        _tessera_err "test environment setup failed: PostgreSQL is not available"
    fi
    _tessera_env_cleanup
    # ensure_chromium stays defined on purpose (handy for later browser tests).
    eval "unset _tessera_env_rc; return $_tessera_env_rc"
fi

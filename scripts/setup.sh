#!/usr/bin/env bash
# Brings up everything crm-contacts needs on a Debian 12 machine, from nothing:
#   1. system packages (PostgreSQL 15 + contrib, headers, clang) if missing
#   2. cargo-pgrx 0.18.0 if missing, pointed at the system PostgreSQL
#   3. a dedicated PostgreSQL cluster for the project (15/crm on port 5433)
#   4. the crm_contacts extension, built and installed with `cargo pgrx install`
#   5. roles, the databases (crm, crm_test), the schema and CREATE EXTENSION
#   6. a .env the API, loader, bench and tests read
#
# Idempotent: every step checks before it acts, so a second run changes
# nothing and takes a few seconds. Settings can be overridden from the
# environment (see the defaults below).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

PG_VERSION=${CRM_PG_VERSION:-15}
PG_CLUSTER=${CRM_PG_CLUSTER:-crm}
PG_PORT=${CRM_PG_PORT:-5433}
DB_NAME=${CRM_DB_NAME:-crm}
TEST_DB_NAME=${CRM_TEST_DB_NAME:-crm_test}
DB_USER=${CRM_DB_USER:-crm_owner}
DB_PASSWORD=${CRM_DB_PASSWORD:-crm}
# The API's own role: reads and executes, nothing more.
API_USER=${CRM_API_USER:-crm_api}
API_PASSWORD=${CRM_API_PASSWORD:-crm_api}
PGRX_VERSION=0.18.0
PG_BIN=/usr/lib/postgresql/$PG_VERSION/bin
PG_CONFIG=$PG_BIN/pg_config
STATE_DIR=$ROOT/target/setup-state

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }
psql_admin() { PGOPTIONS='-c client_min_messages=warning' as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" "$@"; }

export PATH="$HOME/.cargo/bin:$PATH"
mkdir -p "$STATE_DIR"

# --- 1. system packages -----------------------------------------------------
install_packages() {
    local wanted=(postgresql-$PG_VERSION postgresql-contrib postgresql-server-dev-$PG_VERSION
                  libclang-dev clang sudo pkg-config libssl-dev)
    local missing=()
    for p in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing packages: ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

# --- 2. cargo-pgrx ----------------------------------------------------------
install_pgrx() {
    if ! cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
        log "installing cargo-pgrx $PGRX_VERSION (takes a few minutes once)"
        cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
    fi
    if ! grep -qs "pg$PG_VERSION *= *\"$PG_CONFIG\"" "$HOME/.pgrx/config.toml"; then
        log "pointing pgrx at $PG_CONFIG"
        cargo pgrx init --pg$PG_VERSION "$PG_CONFIG" >/dev/null
    fi
}

# --- 3. a dedicated PostgreSQL cluster ----------------------------------------
# Sized from the machine: shared_buffers 1/4 of RAM (the 3M-contact dataset
# and all variants' indexes stay in memory), no JIT (it costs milliseconds on
# queries that should take one), minimal WAL so the loader's COPY into a
# freshly truncated table skips WAL entirely.
write_cluster_config() {
    local mem_mb shared_mb cache_mb conf
    mem_mb=$(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo)
    shared_mb=$(( mem_mb / 4 > 8192 ? 8192 : mem_mb / 4 ))
    cache_mb=$(( mem_mb * 3 / 4 ))
    conf=/etc/postgresql/$PG_VERSION/$PG_CLUSTER/conf.d/crm.conf
    as_root tee "$conf.new" >/dev/null <<EOF
# Written by crm-contacts scripts/setup.sh; rewritten on every set-up.
listen_addresses = 'localhost'
max_connections = 200
shared_buffers = ${shared_mb}MB
effective_cache_size = ${cache_mb}MB
work_mem = 64MB
maintenance_work_mem = 2GB
max_parallel_maintenance_workers = 2
max_parallel_workers_per_gather = 2
random_page_cost = 1.1
effective_io_concurrency = 200
jit = off
wal_level = minimal
max_wal_senders = 0
max_wal_size = 16GB
checkpoint_timeout = 30min
shared_preload_libraries = 'pg_stat_statements'
track_io_timing = on
EOF
    if ! cmp -s "$conf.new" "$conf" 2>/dev/null; then
        as_root mv "$conf.new" "$conf"
        as_root chown postgres:postgres "$conf"
        echo changed
    else
        as_root rm -f "$conf.new"
    fi
}

start_cluster() {
    if ! pg_lsclusters -h | awk '{print $1"/"$2}' | grep -qx "$PG_VERSION/$PG_CLUSTER"; then
        log "creating PostgreSQL cluster $PG_VERSION/$PG_CLUSTER on port $PG_PORT"
        as_root pg_createcluster "$PG_VERSION" "$PG_CLUSTER" --port "$PG_PORT" >/dev/null
    fi
    local changed
    changed=$(write_cluster_config)
    local status
    status=$(pg_lsclusters -h | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" '$1==v && $2==c {print $4}')
    if [ "$status" != online ]; then
        log "starting PostgreSQL cluster $PG_VERSION/$PG_CLUSTER"
        as_root pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start
    elif [ -n "$changed" ]; then
        log "restarting PostgreSQL cluster $PG_VERSION/$PG_CLUSTER (configuration changed)"
        as_root pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" restart
    fi
    for _ in $(seq 1 50); do
        as_postgres pg_isready -q -p "$PG_PORT" && return 0
        sleep 0.2
    done
    echo "PostgreSQL on port $PG_PORT did not become ready" >&2
    exit 1
}

# --- 4. the extension ---------------------------------------------------------
# `cargo pgrx install` rebuilds and regenerates the SQL each time it runs, so
# it only runs when the extension's sources changed (or it is not installed).
extension_fingerprint() {
    { find extension -type f \( -name '*.rs' -o -name '*.toml' -o -name '*.control' -o -name '*.sql' \) \
        -not -path '*/target/*' -print0 | sort -z | xargs -0 sha256sum
      sha256sum Cargo.toml Cargo.lock 2>/dev/null || true; } | sha256sum | cut -d' ' -f1
}

install_extension() {
    local fingerprint stamp=$STATE_DIR/extension.fingerprint
    fingerprint=$(extension_fingerprint)
    local so
    so="$("$PG_CONFIG" --pkglibdir)/crm_contacts.so"
    if [ -f "$so" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$fingerprint" ]; then
        EXTENSION_CHANGED=""
        return
    fi
    log "building and installing the crm_contacts extension (cargo pgrx install --release)"
    (cd extension && cargo pgrx install --release --pg-config "$PG_CONFIG" >/dev/null)
    echo "$fingerprint" > "$stamp"
    EXTENSION_CHANGED=yes
}

# --- 5. roles, databases, schema, CREATE EXTENSION ---------------------------
setup_database() {
    local db=$1
    if [ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
        log "creating database $db"
        # Text sorts by code point (what C.UTF-8 does too), compared with
        # memcmp and abbreviated keys: text B-tree builds take half the
        # time. Case folding (ILIKE, trigrams) stays Unicode-aware: C.UTF-8.
        psql_admin -c "CREATE DATABASE \"$db\" OWNER \"$DB_USER\" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C.UTF-8'"
    fi
    # The SQL objects of an installed extension only change with DROP/CREATE
    # (or ALTER EXTENSION UPDATE between versions). Re-creating is safe because
    # the extension owns no data: the tables and rows stay where they are.
    if [ -n "$EXTENSION_CHANGED" ]; then
        psql_admin -d "$db" -c "SET client_min_messages = warning" -c "DROP EXTENSION IF EXISTS crm_contacts"
    fi
    psql_admin -d "$db" \
        -c "SET ROLE \"$DB_USER\"" -f sql/schema.sql \
        -c "RESET ROLE" \
        -c "CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public" \
        -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements SCHEMA public" \
        -c "CREATE EXTENSION IF NOT EXISTS crm_contacts" \
        -c "$(write_functions_sql "ALTER FUNCTION %s OWNER TO \"$DB_USER\"")"
}

# Runs a statement for each of the extension's write functions (the ones its
# install script revokes from PUBLIC: crm.create_contact, ...,
# crm.import_contacts), found in the catalog. `%s` is the function's signature.
write_functions_sql() {
    cat <<EOF
DO \$\$
DECLARE f regprocedure;
BEGIN
    FOR f IN SELECT oid FROM pg_proc
             WHERE pronamespace = 'crm'::regnamespace AND proacl IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM aclexplode(proacl) a WHERE a.grantee = 0) LOOP
        EXECUTE format('$1', f);
    END LOOP;
END
\$\$
EOF
}

setup_roles() {
    psql_admin -d postgres <<EOF
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER') THEN
        CREATE ROLE "$DB_USER" LOGIN PASSWORD '$DB_PASSWORD';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$API_USER') THEN
        CREATE ROLE "$API_USER" LOGIN PASSWORD '$API_PASSWORD' NOSUPERUSER NOCREATEDB NOCREATEROLE;
    END IF;
END
\$\$;
EOF
}

# Lets the local operating-system user (root on CI) connect as the postgres
# superuser over the Unix socket, as `runuser -u postgres` could anyway. The
# tests that must act as superuser (DROP EXTENSION, restarts) use it.
allow_local_admin() {
    local dir=/etc/postgresql/$PG_VERSION/$PG_CLUSTER os_user
    os_user=$(id -un)
    local map_line="crm_admin $os_user postgres"
    local hba_line="local all postgres peer map=crm_admin"
    local changed=""
    if ! as_root grep -qxF "$map_line" "$dir/pg_ident.conf"; then
        printf '%s\ncrm_admin postgres postgres\n' "$map_line" | as_root tee -a "$dir/pg_ident.conf" >/dev/null
        changed=yes
    fi
    if ! as_root grep -qxF "$hba_line" "$dir/pg_hba.conf"; then
        # First matching line wins: put ours before Debian's "local all postgres peer".
        as_root sed -i "0,/^local/s//$hba_line\n&/" "$dir/pg_hba.conf"
        changed=yes
    fi
    if [ -n "$changed" ]; then
        as_root pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" reload
    fi
}

# The API's role may read the application's tables (and the projection the
# owner creates later: default privileges) and execute the extension's
# functions (granted to PUBLIC); it may not write the tables, nor create
# anything: it writes through the write functions, which run as the tables'
# owner and are granted to it alone.
grant_api_role() {
    local db=$1
    psql_admin -d "$db" \
        -c "GRANT CONNECT ON DATABASE \"$db\" TO \"$API_USER\"" \
        -c "GRANT USAGE ON SCHEMA public TO \"$API_USER\"" \
        -c "REVOKE CREATE ON SCHEMA public FROM PUBLIC" \
        -c "GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"$API_USER\"" \
        -c "ALTER DEFAULT PRIVILEGES FOR ROLE \"$DB_USER\" IN SCHEMA public GRANT SELECT ON TABLES TO \"$API_USER\"" \
        -c "$(write_functions_sql "GRANT EXECUTE ON FUNCTION %s TO \"$API_USER\"")"
}

# Adds to .env the settings it lacks; values already there (edited by
# hand, say) are kept.
write_env() {
    [ -f .env ] || echo "# Written by scripts/setup.sh for the local cluster; edit freely." > .env
    local line
    while IFS= read -r line; do
        if ! grep -q "^${line%%=*}=" .env; then
            echo "$line" >> .env
            log "added ${line%%=*} to .env"
        fi
    done <<ENV
DATABASE_URL=postgres://$DB_USER:$DB_PASSWORD@127.0.0.1:$PG_PORT/$DB_NAME
API_DATABASE_URL=postgres://$API_USER:$API_PASSWORD@127.0.0.1:$PG_PORT/$DB_NAME
TEST_DATABASE_URL=postgres://$DB_USER:$DB_PASSWORD@127.0.0.1:$PG_PORT/$TEST_DB_NAME
TEST_API_DATABASE_URL=postgres://$API_USER:$API_PASSWORD@127.0.0.1:$PG_PORT/$TEST_DB_NAME
TEST_ADMIN_DATABASE_URL=postgresql://postgres@%2Fvar%2Frun%2Fpostgresql:$PG_PORT/$TEST_DB_NAME
TEST_PG_CLUSTER=$PG_VERSION/$PG_CLUSTER
ENV
}

install_packages
install_pgrx
start_cluster
allow_local_admin
install_extension
setup_roles
setup_database "$DB_NAME"
setup_database "$TEST_DB_NAME"
grant_api_role "$DB_NAME"
grant_api_role "$TEST_DB_NAME"
write_env
log "ready: PostgreSQL $PG_VERSION/$PG_CLUSTER on port $PG_PORT, databases $DB_NAME and $TEST_DB_NAME"

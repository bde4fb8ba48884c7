#!/usr/bin/env bash
# Puts demo data in the main database when it has none, and makes sure an
# index variant (trgm) is active. Idempotent: a database with contacts is
# left as it is.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
COUNT=${1:-100000}
export PATH="$HOME/.cargo/bin:$PATH"
set -a; source .env; set +a

contacts=$(psql "$DATABASE_URL" -XAtqc "SELECT count(*) FROM appuser")
if [ "$contacts" = 0 ]; then
    echo "[demo-data] loading $COUNT contacts"
    cargo run --release -q -p loader -- --count "$COUNT" --truncate
else
    echo "[demo-data] database already has $contacts contacts"
fi
variant=$(psql "$DATABASE_URL" -XAtqc "SELECT crm.variant()->>'variant'")
if [ "$variant" = baseline ]; then
    echo "[demo-data] building the trgm index variant"
    psql "$DATABASE_URL" -XAtqc "SELECT crm.use_variant('trgm')->>'variant'" >/dev/null
fi

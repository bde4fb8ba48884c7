# crm-contacts: the two commands of the README, and a few more.
#   make run   set up PostgreSQL + extension + demo data, then serve the API
#   make test  set up, then run every test
.PHONY: setup demo-data run test bench bench-sql lint

# Contacts loaded by `make run` into an empty database.
DEMO_COUNT ?= 100000

setup:
	bash scripts/setup.sh

demo-data: setup
	bash scripts/demo_data.sh $(DEMO_COUNT)

run: demo-data
	cargo run --release -p api

# The criterion benches are not built by cargo test: they are type-checked so they cannot rot.
test: setup
	cargo test --workspace
	cargo check --workspace --benches --quiet

# Benchmark: builds the API and the bench, starts the API on its own port,
# runs every variant through HTTP, stops the API. BENCH_FLAGS for more,
# e.g. make bench BENCH_FLAGS="--variants trgm,full --reps 2".
BENCH_PORT ?= 8077
BENCH_FLAGS ?=
bench: setup
	cargo build --release -p api -p bench
	@set -e; API_BIND=127.0.0.1:$(BENCH_PORT) ./target/release/crm-api > target/bench-api.log 2>&1 & pid=$$!; \
	trap 'kill $$pid 2>/dev/null' EXIT INT TERM; \
	./target/release/bench --api-url http://127.0.0.1:$(BENCH_PORT) --api-wait 30 $(BENCH_FLAGS)

# The same through the SQL function, without the API.
bench-sql: setup
	cargo run --release -p bench -- --via sql $(BENCH_FLAGS)

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

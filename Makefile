# crm-contacts: the two commands of the README, and a few more.
#   make run   set up PostgreSQL + extension + demo data, then serve the API
#   make test  set up, then run every test
.PHONY: setup demo-data run test bench lint

# Contacts loaded by `make run` into an empty database.
DEMO_COUNT ?= 100000

setup:
	bash scripts/setup.sh

demo-data: setup
	bash scripts/demo_data.sh $(DEMO_COUNT)

run: demo-data
	cargo run --release -p api

test: setup
	cargo test --workspace

bench: setup
	cargo run --release -p bench

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

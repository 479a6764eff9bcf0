# The README's two commands are `make run` and `make test`; both install what is missing.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help deps run stop test build fmt lint bench load-test load-test-ui clean

help:
	@echo "make run    build, start a private Redis, the gateway and WORKERS (2) workers"
	@echo "make stop   stop a stack that make run started in the background"
	@echo "make test   install what is missing and run every test"
	@echo "make build  release build of both binaries"
	@echo "make fmt    format the code"
	@echo "make lint   rustfmt check and clippy with warnings as errors"
	@echo "make bench  measure the figures of BENCHMARKS.md"
	@echo "make load-test     Locust, headless, on its own stack (LOAD_PROFILE, LOAD_DURATION, LOAD_HOST)"
	@echo "make load-test-ui  the same with Locust's web UI"

deps:
	@scripts/install-deps.sh
	@scripts/install-load-deps.sh
	@scripts/install-schemathesis.sh
	@scripts/install-browser-tests.sh

run:
	@scripts/run-local.sh

stop:
	@if [ -f data/run/run.pid ]; then kill -TERM "$$(cat data/run/run.pid)" && echo "Stopping the stack of make run."; \
	else echo "No stack of make run is running (no data/run/run.pid)."; fi

# The debug build is the one the tests use (e2e's process tests start the built binaries); the
# Locust smoke run (30 s on a real stack, fails on the success criteria) goes before the cargo
# tests so that their summary stays last.
test: deps
	cargo build --workspace --all-targets
	.venv-load/bin/python -m unittest discover -s load -p 'test_*.py'
	env -u LOAD_HOST -u LOAD_DURATION LOAD_PROFILE=SMOKE python3 load/run.py --bin-dir target/debug
	cargo test --workspace --all-targets

build: deps
	cargo build --release --bin api-gateway --bin worker --bin designer

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

# bench-deps (Celery's virtualenv) first, so a missing install fails before the long runs.
bench: build
	scripts/bench-deps.sh
	cargo build --release -p api-gateway --example sse_fanout --example enqueue_load
	python3 load/bench.py
	cargo run --release -p worker --example freecad_timing
	cargo run --release -p worker --example planner_timing
	python3 load/bench_throughput.py
	python3 load/bench_fairness.py

# Builds the release binaries unless LOAD_HOST names a running gateway to load instead.
load-test: deps
	@if [ -z "$$LOAD_HOST" ]; then cargo build --release --bin api-gateway --bin worker; fi
	python3 load/run.py

load-test-ui: deps
	@if [ -z "$$LOAD_HOST" ]; then cargo build --release --bin api-gateway --bin worker; fi
	python3 load/run.py --ui

clean:
	cargo clean
	rm -rf data

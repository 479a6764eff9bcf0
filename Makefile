# The README's two commands are `make run` and `make test`; both install what is missing.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help deps run test build fmt lint bench clean

help:
	@echo "make run    build, start Redis if needed, the gateway and two workers"
	@echo "make test   install what is missing and run every test"
	@echo "make build  release build of both binaries"
	@echo "make fmt    format the code"
	@echo "make lint   rustfmt check and clippy with warnings as errors"
	@echo "make bench  measure the figures of BENCHMARKS.md"

deps:
	@scripts/install-deps.sh
	@scripts/install-browser-tests.sh

run:
	@scripts/run-local.sh

test: deps
	cargo test --workspace --all-targets

build: deps
	cargo build --release --bin api-gateway --bin worker

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

bench: build
	cargo build --release -p api-gateway --example sse_fanout --example enqueue_load
	python3 load/bench.py
	cargo run --release -p worker --example freecad_timing
	cargo run --release -p worker --example planner_timing

clean:
	cargo clean
	rm -rf data

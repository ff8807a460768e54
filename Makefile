# nflbet: the README's two commands are `make demo` and `make test`.
SHELL := bash
TESTENV := hack/testenv/testenv.sh

.PHONY: help build test bench demo shared-data crds deps lint testenv-build testenv-up testenv-down fmt

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-15s %s\n", $$1, $$2}'

build: ## Build the nflbet binary (release)
	cargo build --release --locked

.PHONY: image
image: ## OCI image without Docker, target/image/nflbet-<version>.oci.tar (IMAGE_REPO=registry/name)
	bash hack/image.sh build

test: ## Build what is missing, start the local control plane, run every test, stop it
	bash hack/test.sh

bench: ## Benchmarks (speed and memory), on the local control plane where needed
	bash hack/bench.sh

shared-data: ## Print the test-data directory: NFLBET_SHARED_DIR, ../shared, or a verified download cached outside the clone
	@bash hack/shared-data.sh

crds: ## Regenerate crds/, the chart's CRD templates and docs/api.md from the Rust types
	cargo run --quiet --locked -- crds --dir crds --chart-dir charts/nflbet-operator/templates/crds --api-doc docs/api.md

deps: ## Install Debian packages the tests need (promtool, amtool)
	bash hack/install-deps.sh

testenv-build: ## Build every test-cluster binary from Go modules (cached; see docs/testenv.md)
	bash $(TESTENV) build all

NODE ?= real
testenv-up: ## Start the local cluster: a real node and the monitoring stack (NODE=kwok: a kwok node)
	bash $(TESTENV) up $(if $(filter kwok,$(NODE)),--kwok,--real-node)

testenv-down: ## Stop the local control plane
	bash $(TESTENV) down

fmt: ## Format the Rust code
	cargo fmt

.PHONY: chart-crds
chart-crds: ## Regenerate the Helm chart's CRD templates (charts/nflbet-operator/templates/crds) from the Rust types
	cargo run --quiet --locked -- crds --chart-dir charts/nflbet-operator/templates/crds

demo: ## The whole product on a local control plane: books, model, alerts, disabling a book
	bash hack/demo.sh

lint: ## rustfmt and clippy, as a reviewer would run them
	cargo fmt --check
	cargo clippy --locked --all-targets -- -D warnings
	cargo clippy --locked --test e2e -- -D warnings

# Tokenwarden build. `make test` is the test command; it installs what it needs.
IMG ?= ghcr.io/tokenwarden/tokenwarden:dev
CONTROLLER_TOOLS_VERSION ?= v0.21.0
LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
GO_BUILD_FLAGS ?= -trimpath -ldflags "-s -w"
TEST_FLAGS ?= -race -count=1 -timeout 40m
TEST_FUZZTIME ?= 8s
FUZZTIME ?= 2m
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
export GOTOOLCHAIN := local

.PHONY: all
all: build

##@ General
.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-16s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development
.PHONY: manifests
manifests: controller-gen ## Generate CRDs and RBAC from markers; copy the CRDs into the Helm chart.
	$(CONTROLLER_GEN) rbac:roleName=tokenwarden-manager crd paths="./..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	rm -f charts/tokenwarden/crds/*.yaml && cp config/crd/bases/*.yaml charts/tokenwarden/crds/

.PHONY: generate
generate: controller-gen ## Generate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: verify-generated
verify-generated: manifests generate ## Fail when generated files are not committed.
	@if [ -n "$$(git status --porcelain -- api config charts)" ]; then \
	  echo "generated files differ from the committed ones; run 'make manifests generate' and commit:"; \
	  git status --porcelain -- api config charts; git --no-pager diff --stat -- api config charts; exit 1; fi

.PHONY: fmt
fmt: ## go fmt.
	go fmt ./...

.PHONY: vet
vet: ## go vet.
	go vet ./...

.PHONY: setup-envtest
setup-envtest: ## Provide kube-apiserver and etcd for envtest (builds them when they cannot be downloaded).
	@bash hack/setup-envtest.sh >/dev/null

.PHONY: setup-chromium
setup-chromium: ## Install Debian's Chromium for the browser tests when it is missing.
	@bash hack/setup-chromium.sh

.PHONY: test
test: verify-generated vet setup-envtest setup-chromium ## Run all tests against a real kube-apiserver (envtest) and a headless Chromium, then each fuzz target for TEST_FUZZTIME.
	KUBEBUILDER_ASSETS="$$(bash hack/setup-envtest.sh)" go test $(TEST_FLAGS) ./...
	FUZZTIME=$(TEST_FUZZTIME) bash hack/fuzz.sh

.PHONY: fuzz
fuzz: ## Run every Go fuzz target for FUZZTIME each (default 2m); make test runs them for TEST_FUZZTIME (8s).
	FUZZTIME=$(FUZZTIME) bash hack/fuzz.sh

.PHONY: bench
bench: ## The operator on the embedded control plane, driven by the load generator (BENCH_DURATION, BENCH_CONCURRENCY).
	bash hack/bench.sh

.PHONY: bench-go
bench-go: setup-envtest ## Go benchmarks: JWT minting and verification, JWKS and every grant over loopback HTTP.
	KUBEBUILDER_ASSETS="$$(bash hack/setup-envtest.sh)" go test -run '^$$' -bench . -benchmem ./internal/... ./tokenserver/... ./test/integration/...

.PHONY: mutate
mutate: ## Disable each security check in hack/mutate/mutations.txt in turn; fail unless a test notices (MUTATE_FLAGS="-only NAME -j 2"). Not part of test.
	go run ./hack/mutate $(MUTATE_FLAGS)

.PHONY: demo
demo: ## Run Tokenwarden locally: control plane, operator, samples; prints kubectl and curl commands. Ctrl-C stops it.
	go run ./hack/demo $(DEMO_FLAGS)

.PHONY: demo-check
demo-check: ## The demo, non-interactively: run its token requests and stop.
	go run ./hack/demo -check $(DEMO_FLAGS)

.PHONY: loadgen
loadgen: ## Drive a running token server: make loadgen LOADGEN_ARGS="-client-id ID -client-secret S"
	go run ./hack/loadgen $(LOADGEN_ARGS)

##@ Build
.PHONY: build
build: ## Build the manager binary into bin/.
	CGO_ENABLED=0 go build $(GO_BUILD_FLAGS) -o $(LOCALBIN)/tokenwarden .

.PHONY: run
run: manifests generate ## Run the manager against the current kubeconfig.
	go run . --namespace=$${NAMESPACE:-tokenwarden-system} --leader-elect=false

.PHONY: docker-build
docker-build: ## Build the container image (needs a Docker engine).
	docker build -t $(IMG) .

##@ Deployment
.PHONY: install
install: manifests ## Install the CRDs into the current cluster.
	kubectl apply --server-side -k config/crd

.PHONY: uninstall
uninstall: manifests ## Remove the CRDs (and every OAuthClient and OAuthUser) from the current cluster.
	kubectl delete --ignore-not-found -k config/crd

.PHONY: deploy
deploy: manifests ## Deploy the operator to the current cluster.
	cd config/manager && kubectl kustomize . >/dev/null
	kubectl kustomize config/default | sed 's#ghcr.io/tokenwarden/tokenwarden:dev#$(IMG)#' | kubectl apply --server-side -f -

.PHONY: undeploy
undeploy: ## Remove the operator from the current cluster.
	kubectl kustomize config/default | kubectl delete --ignore-not-found -f -

##@ Tools
.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN)
$(CONTROLLER_GEN):
	mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) GOFLAGS= go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(LOCALBIN)/controller-gen $(CONTROLLER_GEN)

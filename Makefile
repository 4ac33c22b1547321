# The two commands a newcomer needs:  `make run`  and  `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-quick bench bootstrap lint migrate clean messages cluster

# Set up everything (virtualenv, packages, database, demo data) and serve on http://$(HOST):$(PORT).
run: bootstrap
	DEBUG=$${DEBUG:-1} $(PY) manage.py migrate --noinput
	DEBUG=$${DEBUG:-1} $(PY) manage.py seed_demo
	DEBUG=$${DEBUG:-1} $(PY) manage.py run_demo --host $(HOST) --port $(PORT)

# Run the whole test suite against PostgreSQL and Redis (see scripts/run-tests.sh).
test: bootstrap
	bash scripts/run-tests.sh $(ARGS)

# The local loop: everything but the drills marked slow (clusters, brokers, storms); CI runs all.
test-quick: bootstrap
	bash scripts/run-tests.sh -m "not slow" $(ARGS)

bootstrap: .stamp-python .stamp-node .stamp-chromium .stamp-gettext .stamp-mosquitto \
	.stamp-haproxy .stamp-redis-sentinel

# Bring the Russian and Uzbek catalogues up to date with the sources (python, templates and
# static/js), then compile them: translate what is new or fuzzy in between (gettext needed).
I18N_IGNORE := -i '.*' -i .venv -i node_modules -i test-artifacts -i bench -i tests \
	-i staticfiles -i '*.egg-info' -i __pycache__
messages: .stamp-python
	$(PY) manage.py makemessages -l ru -l uz -d django $(I18N_IGNORE)
	$(PY) manage.py makemessages -l ru -l uz -d djangojs $(I18N_IGNORE)
	$(PY) manage.py compilemessages -l ru -l uz $(I18N_IGNORE)

# Debian's gettext: `make messages` and the test that every string is in the catalogues run
# its xgettext (the compiled catalogues are committed: serving needs no gettext).
.stamp-gettext:
	@command -v xgettext >/dev/null || { echo "Installing Debian's gettext for the translation catalogues"; \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq && \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext >/dev/null; }
	touch $@

# Debian's chromium for the browser tests (Playwright drives it; it never downloads a browser).
.stamp-chromium:
	@command -v chromium >/dev/null || { echo "Installing Debian's chromium for the browser tests"; \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq && \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	touch $@

# Debian's Mosquitto 2 (with its dynamic-security plugin): the device tests start a private
# broker with the project's configuration (deploy/mosquitto/), and `make broker` runs one.
.stamp-mosquitto:
	@command -v mosquitto >/dev/null || test -x /usr/sbin/mosquitto || { \
	  echo "Installing Debian's mosquitto for the devices over MQTT"; \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq && \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null; }
	touch $@

# $(call apt_install,PACKAGE,COMMAND): Debian's PACKAGE, unless COMMAND is already there
# (also looked for in /usr/sbin, which is not on every user's PATH).
apt_install = @command -v $(2) >/dev/null || test -x /usr/sbin/$(2) || { \
	  echo "Installing Debian's $(1)"; \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq && \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq $(1) >/dev/null; }

# Debian's HAProxy: the load balancer of `make cluster` and of the cluster tests
# (deploy/haproxy.cfg: cookie stickiness for long-polling sessions).
.stamp-haproxy:
	$(call apt_install,haproxy,haproxy)
	touch $@

# Debian's redis-sentinel: the cluster's Redis is a master, a replica and three sentinels.
# Only the binary is used; the cluster starts its sentinels with generated configurations.
.stamp-redis-sentinel:
	$(call apt_install,redis-sentinel,redis-sentinel)
	touch $@

# Any Python 3.11 will do; fall back to python3 when python3.11 is not on PATH.
.stamp-python: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "python3.11 not found, using python3"; }
	test -x $(PY) || $$(command -v $(PYTHON) || command -v python3) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

.stamp-node: package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: installing Debian's nodejs/npm"; apt-get update -qq && apt-get install -y -qq nodejs npm; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# On one machine, what a production deployment runs on several (README "Deployment"): HAProxy
# (deploy/haproxy.cfg) in front of three uvicorn processes, the watchdog, Redis as a master,
# a replica and three sentinels, against PostgreSQL (DATABASE_URL). Foreground; Ctrl+C stops
# it all. CLUSTER_ARGS=--simulate adds a simulated fleet.
cluster: .stamp-python .stamp-haproxy .stamp-redis-sentinel
	DEBUG=$${DEBUG:-1} DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/vendhub} \
	  $(PY) manage.py migrate --noinput
	DEBUG=$${DEBUG:-1} DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/vendhub} \
	  exec $(PY) -m vendhub.cluster --host $(HOST) --port $(PORT) $(CLUSTER_ARGS)

# The benchmark harness (bench/README.md): `make bench` runs the quick mode; BENCH_ARGS=--full for more.
bench: bootstrap .stamp-bench
	$(PY) -m bench run $${BENCH_ARGS:---quick}

.stamp-bench: pyproject.toml bench/refs/node/package.json bench/refs/node/package-lock.json
	$(PY) -m pip install --quiet -e '.[test,bench]'
	npm ci --prefix bench/refs/node --no-audit --no-fund --loglevel=error
	touch $@

# A Mosquitto with the project's configuration on MQTT_PORT (data in var/mosquitto/); it
# prints the MQTT_URL to give `make run` (README "Devices over MQTT").
MQTT_PORT ?= 1884
broker: bootstrap
	DEBUG=$${DEBUG:-1} $(PY) manage.py mqtt_broker --port $(MQTT_PORT)

lint: bootstrap
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) node_modules .stamp-* staticfiles

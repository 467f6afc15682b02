# Two commands do everything on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: venv run test lint format bench reliability clean messages

# The demo and the benchmarks ask for the development settings explicitly (DEBUG on, the published SECRET_KEY:
# config/settings_dev.py; the tests do the same in pyproject.toml). Without them, DEBUG is off and start-up stops
# until SECRET_KEY is set (README, "Production settings").
run bench: export DJANGO_SETTINGS_MODULE = config.settings_dev

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP)

# The whole system on SQLite with the demo school: web server and django-q2 cluster together; Ctrl-C stops both
# (demo/run.py: migrate, seed_demo, setup_schedules, then both in their own process groups under one supervisor).
# Links in messages use http://$(HOST):$(PORT) unless PUBLIC_BASE_URL is set.
run: venv
	$(BIN)/python -m demo.run --host $(HOST) --port $(PORT)

test: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest --create-db $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) db.sqlite3 .test-db.sqlite3 staticfiles

# The reliability scenarios at full size on PostgreSQL (its own test database, created and dropped), one line each.
RELIABILITY_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/classroom_reliability
reliability: venv
	RELIABILITY_SCALE=full DATABASE_URL=$(RELIABILITY_DATABASE_URL) $(BIN)/python -m pytest tests/reliability --create-db -q -p no:cacheprovider --timeout=1800

# Benchmarks on PostgreSQL (DATABASE_URL, default the local server): its own database, created and dropped. The HTTP
# case H1 needs wrk (apt-get install -y wrk; skipped without it); BENCH_ARGS="--only H1" runs it alone.
bench: venv
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# The catalogues (README, "Languages"): collect every marked string into locale/<lang>/LC_MESSAGES/django.po, keeping
# the translations already there, then compile the .mo files Django reads. Both are committed, so a fresh machine needs
# no gettext tools; tests/core/test_catalogues.py fails when a .mo is older than its .po. Needs GNU gettext.
messages: venv
	DJANGO_SETTINGS_MODULE=config.settings_dev $(BIN)/python manage.py makemessages -l vi -l zh_Hant \
		--ignore '.venv/*' --ignore 'bench/*' --ignore 'tests/*' --ignore 'staticfiles/*' --add-location file
	DJANGO_SETTINGS_MODULE=config.settings_dev $(BIN)/python manage.py compilemessages -l vi -l zh_Hant --ignore '.venv/*'

# The two commands of the README:  make report  (main job)  and  make test  (tests).
VENV ?= .venv
PY := $(VENV)/bin/python
export PYTHONHASHSEED := 0

.PHONY: setup report test unit notebooks check-stripped sample clean

setup:
	@bash scripts/setup.sh

sample: setup
	$(PY) -m ai4m_kit.cli sample data/sample --if-missing --profile $${AI4M_PROFILE:-demo}

## Main job: generate the sample, execute every notebook at the demo profile, write reports/index.html.
report: setup sample
	AI4M_PROFILE=$${AI4M_PROFILE:-demo} $(PY) -m ai4m_kit.cli report --notebooks notebooks --out reports

## Tests: unit tests, stripped-notebook gate, every notebook through nbval at the smoke profile.
test: setup check-stripped unit notebooks

unit:
	$(PY) -m pytest -q -p no:cacheprovider tests ai4m_kit

check-stripped:
	$(PY) scripts/check_stripped.py notebooks

notebooks:
	AI4M_PROFILE=smoke $(PY) -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env notebooks

clean:
	rm -rf reports data/sample .pytest_cache

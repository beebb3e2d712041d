# Two commands do all the set-up on a fresh machine:
#   make episode   installs what is missing and makes today's episode (prints the mp4's path last)
#   make test      installs what is missing and runs the whole test suite (.ci/run calls this)

VENV ?= .venv
PYTHON ?= python3
APT_PACKAGES := ffmpeg espeak-ng fonts-noto-cjk sox chromium
# The tests also start a real PostgreSQL server for the production Dagster instance.
TEST_APT_PACKAGES := $(APT_PACKAGES) postgresql
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
PYTEST_ARGS ?=

.PHONY: episode test setup system-packages ui clean

episode: setup
	$(VENV)/bin/starloom episode $(DATE) $(if $(BACKEND),--backend $(BACKEND))

# pytest exits 5 when it collects nothing: for this project that means a broken suite, so fail.
test: APT_PACKAGES := $(TEST_APT_PACKAGES)
test: setup
	@$(VENV)/bin/python -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: the suite is missing" >&2; exit 1; fi; \
	exit $$status

ui: setup
	$(VENV)/bin/starloom ui

setup: system-packages $(VENV)/.installed

system-packages:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# torch first, from its pinned CPU wheel, so no dependency can pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q torch==2.13.0
	$(VENV)/bin/pip install -q -e '.[dev,nudity]'
	# rapidocr asks for opencv-python, nudenet for opencv-python-headless, and both unpack into cv2/:
	# keep one, the headless build, which needs no libGL on a server.
	$(VENV)/bin/pip uninstall -q -y opencv-python
	$(VENV)/bin/pip install -q --force-reinstall --no-deps $$(grep -o 'opencv-python-headless==[0-9.]*' pyproject.toml)
	touch $@

clean:
	rm -rf var .pytest_cache

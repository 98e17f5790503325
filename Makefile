# The two commands of the README: `make demo` (the main job) and `make test`.
# Each installs what it needs: the package with its test and oracle extras, pinned by
# constraints.txt (the versions CI passes with), and TeX Live from Debian's packages when
# pdflatex is missing (needs root, as on CI). `make test-latest` tries the newest releases.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
TEX_PACKAGES = texlive-latex-base texlive-latex-recommended texlive-latex-extra \
	texlive-fonts-recommended texlive-lang-other latexmk chktex poppler-utils

.PHONY: demo test test-latest install tex bench

demo: install tex
	$(PYTHON) -m symbolic_bptt demo

test: install tex
	$(PYTHON) -m pytest

install:
	$(PIP) install --quiet --disable-pip-version-check -c constraints.txt -e '.[test,oracle]'

# The newest release of every dependency (torch stays at 2.13.0): a new pytest or SymPy is met
# here on purpose; when it passes, refresh constraints.txt (its header says how).
test-latest: tex
	$(PIP) install --quiet --disable-pip-version-check --upgrade --upgrade-strategy eager \
		-c constraints-latest.txt -e '.[test,oracle]'
	$(PYTHON) -m pytest

tex:
	@if ! command -v pdflatex >/dev/null || ! command -v latexmk >/dev/null \
		|| ! command -v pdftotext >/dev/null || ! command -v chktex >/dev/null; then \
		echo "installing TeX Live from Debian's packages (about 70 s)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $(TEX_PACKAGES) >/dev/null; \
	fi

bench: install
	$(PYTHON) benchmarks/bench_engine.py

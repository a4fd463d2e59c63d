# Shared by scripts/serve and scripts/test: a virtual environment with the project installed.
# Usage: source scripts/_bootstrap.sh EXTRA   (EXTRA: "" or "test")
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

apt_install() {
  # Install missing Debian packages when we are allowed to (root with apt-get).
  local need=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
  [ ${#need[@]} -eq 0 ] && return 0
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing Debian packages: ${need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "warning: missing Debian packages (${need[*]}); install them with apt-get" >&2
  fi
}

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv 2>/dev/null || { apt_install python3-venv; python3 -m venv .venv; }
fi
extra="${1:-}"
if [ "$extra" = "test" ]; then
  # Before pip: Sherpa (a test dependency) builds from source with bison, flex, byacc and FFTW;
  # STILTS (votlint, datalinklint) and python3-gavo (the official IVOA XSDs) serve the tests;
  # docker-compose validates docker/compose.yaml (no Docker daemon needed).
  apt_install stilts python3-gavo bison flex byacc libfftw3-dev docker-compose
  # TAP on PostgreSQL: pgsphere for ADQL geometry, with its install script corrected.
  if [ -d /usr/lib/postgresql/15 ]; then
    apt_install postgresql-15-pgsphere
    source "$root/scripts/_pgsphere.sh"
    if [ "$(id -u)" = 0 ]; then pgsphere_fix; fi
  fi
fi
stamp=".venv/.installed-${extra:-base}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  if [ -n "$extra" ]; then
    .venv/bin/python -m pip install -q -e ".[$extra]"
  else
    .venv/bin/python -m pip install -q -e .
  fi
  touch "$stamp"
fi
# The web front end's browser libraries (Aladin Lite, Plotly) from npm through the lock file;
# the service serves them itself (vo_service/web/_assets.py), no CDN.
web="vo_service/web"
if [ ! -f "$web/node_modules/.package-lock.json" ] \
  || [ "$web/package-lock.json" -nt "$web/node_modules/.package-lock.json" ]; then
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  if command -v npm >/dev/null 2>&1; then
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
  else
    echo "warning: npm is missing: the web pages run without the sky view and plots" >&2
  fi
fi
if [ "$extra" = "test" ]; then
  # The web front end's browser tests: headless Chromium driven by Selenium.
  apt_install chromium chromium-driver
fi

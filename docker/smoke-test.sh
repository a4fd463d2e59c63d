#!/usr/bin/env bash
# Smoke test of the compose stack: start it, simulate a small archive, run an image and a
# spectrum through /async on the runners and Dask workers, fetch a result, stop and remove it
# (volumes included). Needs a Docker daemon and the images (built by `up --build`, or already
# built with the base images of your site: see docker/README.md).
#   docker/smoke-test.sh [ENV_FILE]      (default: docker/example.env with a test password)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
project="vo-smoke-$$"
env_file="${1:-}"
own_env=""
if [ -z "$env_file" ]; then
  env_file="$(mktemp)"
  own_env=1
  sed -e 's/^POSTGRES_PASSWORD=.*/POSTGRES_PASSWORD=smoke-test/' \
      -e 's/^VO_NETWORK_RESOLVERS=.*/VO_NETWORK_RESOLVERS=false/' \
      -e 's/^VO_UWS_IDENTITY=.*/VO_UWS_IDENTITY=none/' \
      -e 's/^VO_DASK_WORKER_MEMORY=.*/VO_DASK_WORKER_MEMORY=2GiB/' \
      "$here/example.env" >"$env_file"
fi
port="$(sed -n 's/^VO_HTTP_PORT=//p' "$env_file")"
base="http://127.0.0.1:${port:-8080}"
compose() { docker-compose -p "$project" --env-file "$env_file" -f "$here/compose.yaml" "$@"; }
cleanup() { compose down -v --remove-orphans >/dev/null 2>&1 || true; }
trap 'cleanup; if [ -n "$own_env" ]; then rm -f "$env_file"; fi' EXIT

compose up -d
compose run --rm web vo-service archive simulate --scenario crab --limit 6 --workers 2
for _ in $(seq 60); do curl -fsS "$base/health" >/dev/null 2>&1 && break; sleep 2; done

submit() { curl -fsS -o /dev/null -w '%{redirect_url}' "$@" -d PHASE=RUN "$base/async"; }
image="$(submit -d product_type=image -d RA=83.633 -d DEC=22.014 -d radius=20)"
spectrum="$(submit -d product_type=spectrum -d src_name=Crab -d radius=20)"
for job in "$image" "$spectrum"; do
  phase=""
  for _ in $(seq 120); do
    phase="$(curl -fsS "$job/phase")"
    case "$phase" in COMPLETED | ERROR | ABORTED) break ;; esac
    sleep 5
  done
  echo "$job: $phase"
  [ "$phase" = COMPLETED ] || { compose logs --tail=50 runner; exit 1; }
done
url="$(curl -fsS "$image" | grep -o 'xlink:href="[^"]*/image.fits"' | cut -d'"' -f2)"
fits="$(mktemp)"
curl -fsS -o "$fits" "$url"
[ "$(head -c 6 "$fits")" = SIMPLE ] || { echo "image.fits is not FITS" >&2; exit 1; }
rm -f "$fits"
echo "smoke test passed: image and spectrum computed by the runners on the Dask workers"

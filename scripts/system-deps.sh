#!/usr/bin/env bash
# Debian packages vodflow needs; installs only what is missing (needs root or sudo).
set -euo pipefail
need=()
command -v java >/dev/null 2>&1 || [ -n "${VODFLOW_JAVA_HOME:-}" ] || need+=(openjdk-17-jdk-headless)
command -v mvn  >/dev/null 2>&1 || need+=(maven)
# the local CDN edge (caching reverse proxy with auth_request)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
# the browser the player tests drive (H.264/AAC MSE + ClearKey EME headless), and the HTTP load tool of bench/
command -v chromium >/dev/null 2>&1 || need+=(chromium fonts-liberation)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
# the web player's front end is built with npm (make web)
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
# Redis: the optional shared response cache of the recommendations API (tests start their own server) and
# the cluster profile's Celery broker
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# PostgreSQL: the cluster profile's database server (Airflow, MLflow, catalog) and the catalog's tests on it
compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || command -v pg_ctl >/dev/null 2>&1 || need+=(postgresql)
# Optional: native BLAS/LAPACK for Spark ALS. netlib (dev.ludovic.netlib, in Spark) loads libblas.so.3 and
# liblapack.so.3 through JNI; without them every ALS solve runs on the Java fallback (`vodflow status`
# shows native_blas). Not fatal when it cannot be installed.
optional=()
LDCONFIG=$(command -v ldconfig || echo /sbin/ldconfig)
if ! { "$LDCONFIG" -p 2>/dev/null | grep -q "libblas\.so\.3 " && "$LDCONFIG" -p 2>/dev/null | grep -q "liblapack\.so\.3 "; }; then
  optional+=(libopenblas0-pthread liblapack3)
fi
blas_warning() {
  echo "warning: native BLAS/LAPACK not installed ($1): Spark ALS will run on netlib's Java fallback (slower)." >&2
  echo "         install Debian's libopenblas0-pthread and liblapack3 (or any libblas.so.3 + liblapack.so.3), then check 'vodflow status'" >&2
}
if [ ${#need[@]} -eq 0 ] && [ ${#optional[@]} -eq 0 ]; then exit 0; fi
if [ ${#need[@]} -eq 0 ] && ! command -v apt-get >/dev/null; then blas_warning "no apt-get here"; exit 0; fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
if ! command -v apt-get >/dev/null; then
  echo "error: missing ${need[*]} and no apt-get here: install a JDK 17+, Maven, nginx, chromium, wrk, redis-server and PostgreSQL, then rerun" >&2; exit 1
fi
$SUDO apt-get update -qq || { [ ${#need[@]} -eq 0 ] && blas_warning "apt-get update failed" && exit 0; }
# --no-install-recommends: chromium would otherwise pull in a desktop's worth of printing and GUI packages.
# policy-rc.d keeps Debian's nginx package from starting a system nginx on port 80 (vodflow runs its own).
if [ ! -e /usr/sbin/policy-rc.d ] && [ "$(id -u)" = 0 ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
if [ ${#optional[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${optional[@]}" \
    || blas_warning "apt-get install ${optional[*]} failed"
fi

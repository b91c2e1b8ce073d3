#!/usr/bin/env bash
# Debian packages vodflow needs; installs only what is missing (needs root or sudo).
set -euo pipefail
need=()
command -v java >/dev/null 2>&1 || [ -n "${VODFLOW_JAVA_HOME:-}" ] || need+=(openjdk-17-jdk-headless)
command -v mvn  >/dev/null 2>&1 || need+=(maven)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
echo "installing Debian packages: ${need[*]}"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
if ! command -v apt-get >/dev/null; then
  echo "error: missing ${need[*]} and no apt-get here: install a JDK 17+ and Maven, then rerun" >&2; exit 1
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"

#!/usr/bin/env bash
# Install a Go command once per version and print its path; CI and tests reuse the cached binary.
# The binary lives under ${XDG_CACHE_HOME:-$HOME/.cache}/otel-agent/go-tools/<name>-<version>/, so a new version
# builds once and an unchanged one never rebuilds (like collector-config/build.sh for the Collector).
#
#   deploy/tools/go-tool.sh helm                 build if needed, print the binary's path
#   deploy/tools/go-tool.sh helm --print-path    print the path it has (or would have); exit 1 if not built
set -euo pipefail

declare -A MODULES=(
  [helm]="helm.sh/helm/v3/cmd/helm@v3.22.0"
)

name="${1:?usage: go-tool.sh NAME [--print-path]}"
module="${MODULES[$name]:-}"
[ -n "$module" ] || { echo "go-tool.sh: unknown tool $name (known: ${!MODULES[*]})" >&2; exit 2; }
version="${module##*@}"
cache_dir="${XDG_CACHE_HOME:-$HOME/.cache}/otel-agent/go-tools/$name-$version"
binary="$cache_dir/$name"

if [ "${2:-}" = "--print-path" ]; then
  echo "$binary"
  [ -x "$binary" ]
  exit
fi
if [ -x "$binary" ]; then
  echo "$binary"
  exit 0
fi

command -v go >/dev/null 2>&1 || { echo "go-tool.sh: Go is needed to build $name" >&2; exit 1; }
mkdir -p "$cache_dir"
exec 9>"$cache_dir/.lock"
flock 9
if [ ! -x "$binary" ]; then
  echo "go-tool.sh: building $module (a few minutes on 2 cores)" >&2
  GOBIN="$cache_dir/.build" go install "$module" >&2
  mv "$cache_dir/.build/$name" "$binary"
  rm -rf "$cache_dir/.build"
fi
echo "$binary"

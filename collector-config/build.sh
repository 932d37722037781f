#!/usr/bin/env bash
# Build the slim otel-agent Collector from manifest.yaml with the OpenTelemetry Collector Builder.
# The binary is cached under ${XDG_CACHE_HOME:-$HOME/.cache}/otel-agent/otelcol-<manifest hash>/, so an
# unchanged manifest never rebuilds; collector-config/otelcol is a symlink to the cached binary.
#
#   collector-config/build.sh               build if needed, print the binary's path
#   collector-config/build.sh --print-path  print the path the binary has (or would have); exit 1 if not built
set -euo pipefail

BUILDER_VERSION=v0.159.0
here="$(cd "$(dirname "$0")" && pwd)"
manifest="$here/manifest.yaml"
hash="$(sha256sum "$manifest" | cut -c1-16)"
cache_dir="${XDG_CACHE_HOME:-$HOME/.cache}/otel-agent/otelcol-$hash"
binary="$cache_dir/otelcol-otel-agent"

if [ "${1:-}" = "--print-path" ]; then
  echo "$binary"
  [ -x "$binary" ]
  exit
fi

link() { ln -sfn "$binary" "$here/otelcol"; echo "$binary"; }

if [ -x "$binary" ]; then
  link
  exit 0
fi

command -v go >/dev/null 2>&1 || { echo "build.sh: Go >= 1.25 is needed to build the Collector" >&2; exit 1; }
gobin="$(go env GOPATH)/bin"
builder="$gobin/builder"
if ! { [ -x "$builder" ] && "$builder" version 2>&1 | grep -q "$BUILDER_VERSION"; }; then
  echo "build.sh: installing the Collector Builder $BUILDER_VERSION" >&2
  go install "go.opentelemetry.io/collector/cmd/builder@$BUILDER_VERSION"
fi

mkdir -p "$cache_dir"
# One build at a time per manifest hash; a second caller waits, then finds the binary.
exec 9>"$cache_dir/.lock"
flock 9
if [ ! -x "$binary" ]; then
  work="$(mktemp -d "$cache_dir/build.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  # Same manifest, with the output path redirected into the scratch directory.
  sed "s|^\(  output_path:\).*|\1 $work/src|" "$manifest" > "$work/manifest.yaml"
  echo "build.sh: building the Collector into $cache_dir (several minutes on 2 cores)" >&2
  "$builder" --config "$work/manifest.yaml" >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; exit 1; }
  mv "$work/src/otelcol-otel-agent" "$binary.tmp" && mv "$binary.tmp" "$binary"
fi
link

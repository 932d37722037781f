#!/bin/sh
# Runs once, when the PostgreSQL container creates its database (docker-entrypoint-initdb.d).
# A login role that can only read otel-agent's tables, for Grafana's PostgreSQL data source: SELECT on the
# tables that exist now and, through default privileges, on those the owner's migrations create later.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v reader="${OTEL_AGENT_GRAFANA_PG_USER:-grafana_reader}" \
  -v password="${OTEL_AGENT_GRAFANA_PG_PASSWORD:-grafana_reader}" \
  -v owner="$POSTGRES_USER" \
  -f /docker-entrypoint-initdb.d/grafana-reader.psql

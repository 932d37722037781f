#!/bin/sh
# Write Alertmanager's config from alertmanager.base.yml and the environment, to the path given (default
# /tmp/alertmanager.yml). POSIX sh: it runs in the prom/alertmanager image (busybox) and on Debian.
#
#   OTEL_AGENT_ALERT_WEBHOOK_URL      POST every notification (and its resolution) as JSON here
#   OTEL_AGENT_ALERT_EMAIL_TO         send e-mail to this address ...
#   OTEL_AGENT_ALERT_EMAIL_FROM       ... from this one (default alertmanager@localhost)
#   OTEL_AGENT_ALERT_SMTP_HOST        host:port of the SMTP server (default localhost:25)
#   OTEL_AGENT_ALERT_SMTP_USER / OTEL_AGENT_ALERT_SMTP_PASSWORD   SMTP login, if the server wants one
#   OTEL_AGENT_ALERT_SMTP_TLS         true (default) or false: require STARTTLS
#   OTEL_AGENT_ALERT_GROUP_WAIT / _GROUP_INTERVAL / _REPEAT_INTERVAL   30s / 5m / 4h
# With neither a webhook nor an e-mail address, alerts are still shown in Alertmanager's UI.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-/tmp/alertmanager.yml}"

quote() {  # a YAML single-quoted scalar
  printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"
}

{
  sed -e "s|@GROUP_WAIT@|${OTEL_AGENT_ALERT_GROUP_WAIT:-30s}|" \
      -e "s|@GROUP_INTERVAL@|${OTEL_AGENT_ALERT_GROUP_INTERVAL:-5m}|" \
      -e "s|@REPEAT_INTERVAL@|${OTEL_AGENT_ALERT_REPEAT_INTERVAL:-4h}|" \
      "$here/alertmanager.base.yml"
  echo
  echo "receivers:"
  echo "  - name: otel-agent"
  if [ -n "${OTEL_AGENT_ALERT_WEBHOOK_URL:-}" ]; then
    echo "    webhook_configs:"
    echo "      - url: $(quote "$OTEL_AGENT_ALERT_WEBHOOK_URL")"
    echo "        send_resolved: true"
  fi
  if [ -n "${OTEL_AGENT_ALERT_EMAIL_TO:-}" ]; then
    echo "    email_configs:"
    echo "      - to: $(quote "$OTEL_AGENT_ALERT_EMAIL_TO")"
    echo "        from: $(quote "${OTEL_AGENT_ALERT_EMAIL_FROM:-alertmanager@localhost}")"
    echo "        smarthost: $(quote "${OTEL_AGENT_ALERT_SMTP_HOST:-localhost:25}")"
    echo "        require_tls: ${OTEL_AGENT_ALERT_SMTP_TLS:-true}"
    echo "        send_resolved: true"
    if [ -n "${OTEL_AGENT_ALERT_SMTP_USER:-}" ]; then
      echo "        auth_username: $(quote "$OTEL_AGENT_ALERT_SMTP_USER")"
      echo "        auth_password: $(quote "${OTEL_AGENT_ALERT_SMTP_PASSWORD:-}")"
    fi
  fi
} > "$out"
echo "$out"

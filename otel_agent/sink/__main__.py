"""python -m otel_agent.sink: the same as `otel-agent sink`."""

import sys

from otel_agent.sink.cli import main

sys.exit(main())

"""`python -m otel_agent.cli ...` runs the same CLI as the `otel-agent` script."""

import sys

from otel_agent.cli import main

sys.exit(main())

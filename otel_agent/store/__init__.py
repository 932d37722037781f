"""The store: tables for runs, steps and failures, their migrations, and the materialiser.

``Materialiser(make_engine(url)).write(records)`` is the one entry point the SQL exporter and the OTLP
sink share; see otel_agent/store/materialiser.py.
"""

from otel_agent.store.engine import database_url, make_engine
from otel_agent.store.materialiser import Materialiser, StoreUnavailable, WriteResult
from otel_agent.store.migrate import upgrade

__all__ = ["Materialiser", "StoreUnavailable", "WriteResult", "database_url", "make_engine", "upgrade"]

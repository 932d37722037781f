"""The documentation tables keep up with the code: every attribute constant and every setting is listed."""

from __future__ import annotations

import re
from pathlib import Path

from otel_agent import attributes as A
from otel_agent.settings import Settings

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_attribute_constant_is_documented() -> None:
    text = (DOCS / "attributes.md").read_text()
    names = [k for k, v in vars(A).items() if k.isupper() and isinstance(v, (str, tuple, frozenset))]
    missing = [k for k in names if f"`{k}`" not in text]
    assert not missing, f"add these to docs/attributes.md: {missing}"


def test_every_setting_is_in_the_configuration_table() -> None:
    source = Path(Settings.__module__.replace(".", "/") + ".py")
    code = (Path(__file__).resolve().parent.parent / source).read_text()
    read = set(re.findall(r'"(OTEL_AGENT_[A-Z0-9_]+)"', code))
    table = (DOCS / "configuration.md").read_text()
    missing = sorted(v for v in read if f"`{v}`" not in table)
    assert read and not missing, f"add these to docs/configuration.md: {missing}"

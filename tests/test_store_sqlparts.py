"""``one_of``: ids as one parameter; hex ids as an array literal on PostgreSQL, anything else as a list."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from otel_agent.store.sqlparts import one_of, pg_ids


def test_hex_ids_become_one_array_literal_and_others_stay_a_list() -> None:
    assert pg_ids(["00ab", "ff"]) == "{00ab,ff}"
    assert pg_ids(["a,b", 'x"}']) == ["a,b", 'x"}']
    assert pg_ids(["ABCD"]) == ["ABCD"]  # not our lowercase form: no literal
    assert pg_ids([]) == []


@pytest.fixture(params=["sqlite", "postgres"])
def conn(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[sa.Connection]:
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path}/ids.db"
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        connection.exec_driver_sql("CREATE TEMP TABLE ids_probe (id varchar(32))")
        values = ["00ab", "ff", "a,b", 'x"}', "{}", "plain"]
        connection.execute(sa.text("INSERT INTO ids_probe VALUES (:id)"), [{"id": v} for v in values])
        yield connection
    engine.dispose()


@pytest.mark.parametrize("wanted", [["00ab", "ff"], ["a,b", 'x"}', "{}"], ["ff", "plain", "missing"]])
def test_one_of_finds_exactly_the_ids(conn: sa.Connection, wanted: list[str]) -> None:
    column = sa.column("id", sa.String)
    query = sa.select(column).select_from(sa.table("ids_probe")).where(one_of(conn, column, wanted))
    assert sorted(conn.scalars(query)) == sorted(set(wanted) - {"missing"})

"""The Snowflake sink's staging file: what COPY reads back is what the rows held.

The file is read back here with pyarrow, column by column as the COPY's SELECT names them; the
loads themselves run against the emulator in tests/integration/test_sinks.py.
"""
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings, strategies as st

from sensory.io.snowflake import copy_sql, write_parquet
from sensory.io.snowflake_schema import SOCIAL_POSTS, TABLES, TableSpec

SPEC = TableSpec("T", [("ID", "VARCHAR"), ("TEXT", "VARCHAR"), ("COUNT", "NUMBER"),
                       ("SCORE", "FLOAT"), ("FLAG", "BOOLEAN"), ("TAGS", "VARIANT"),
                       ("AT", "TIMESTAMP_TZ")], ("ID",))

# Text as users write it: quotes, commas, line breaks, Bangla, emoji, CSV's NULL marker.
_TEXT = st.one_of(st.none(), st.text(), st.sampled_from(
    ['say "hi", then\nleave', "\r\n", "দাম ৳১২০০ 📱", "\\N", "", ",", '"']))
_ROWS = st.lists(st.fixed_dictionaries({
    "ID": st.text(min_size=1),
    "TEXT": _TEXT,
    # NUMBER is NUMBER(38, 0): past 64 bits too.
    "COUNT": st.one_of(st.none(), st.integers(-2**63, 2**63 - 1), st.integers(0, 10**37)),
    "SCORE": st.one_of(st.none(), st.integers(-1000, 1000),
                       st.floats(allow_nan=False, allow_infinity=False)),
    "FLAG": st.one_of(st.none(), st.booleans()),
    "TAGS": st.one_of(st.none(), st.lists(st.text(max_size=8), max_size=3),
                      st.dictionaries(st.text(max_size=5), st.integers(), max_size=3)),
    "AT": st.one_of(st.none(), st.just("2025-12-20T10:30:00+06:00")),
}), max_size=20)


def _read_back(path) -> list[dict]:
    return pq.read_table(path).to_pylist()


@settings(max_examples=150, deadline=None)
@given(rows=_ROWS)
def test_every_value_reads_back_as_written(tmp_path_factory, rows):
    path = str(tmp_path_factory.mktemp("staging") / "rows.parquet")
    write_parquet(path, SPEC, rows)
    back = _read_back(path)
    assert len(back) == len(rows)
    for row, stored in zip(rows, back):
        assert list(stored) == [name for name, _ in SPEC.columns]
        # A NULL stays a NULL and "\N" or "" stay text: no marker to confuse them.
        for name in ("ID", "TEXT", "FLAG", "AT"):
            assert stored[name] == row[name]
        assert stored["COUNT"] == row["COUNT"]  # int, or Decimal past 64 bits: equal either way
        assert stored["SCORE"] == (None if row["SCORE"] is None else float(row["SCORE"]))
        if row["TAGS"] is None:
            assert stored["TAGS"] is None
        else:  # JSON text for PARSE_JSON
            assert json.loads(stored["TAGS"]) == row["TAGS"]


def test_missing_columns_are_null_and_text_columns_take_other_values_as_text(tmp_path):
    path = str(tmp_path / "rows.parquet")
    write_parquet(path, SPEC, [{"ID": "a", "TEXT": 12}, {"ID": 7}])
    assert [(row["ID"], row["TEXT"], row["COUNT"]) for row in _read_back(path)] == [
        ("a", "12", None), ("7", None, None)]


def test_a_value_of_the_wrong_kind_for_a_number_column_fails_the_file(tmp_path):
    # The load fails, is retried, and its records are dead-lettered (tests/integration).
    with pytest.raises(pa.ArrowInvalid):
        write_parquet(str(tmp_path / "rows.parquet"), SPEC, [{"ID": "a", "COUNT": "many"}])


def test_the_same_rows_give_the_same_file(tmp_path):
    # A retried load PUTs an identical file.
    rows = [{"ID": "a", "TEXT": "x", "COUNT": 1, "TAGS": ["#t"]}]
    first, second = tmp_path / "1.parquet", tmp_path / "2.parquet"
    write_parquet(str(first), SPEC, rows)
    write_parquet(str(second), SPEC, rows)
    assert first.read_bytes() == second.read_bytes()


def test_copy_selects_every_column_by_name_into_the_staging_types():
    sql = copy_sql(SOCIAL_POSTS, "STG", "@S/load_1/")
    names = [name for name, _ in TABLES[SOCIAL_POSTS].columns]
    assert sql.startswith(f"COPY INTO STG ({', '.join(names)}) FROM (SELECT ")
    assert "$1:POST_ID::VARCHAR, " in sql and "$1:HASHTAGS::VARCHAR, " in sql
    assert "$1:EVENT_TIME::VARCHAR, " in sql and "$1:LIKES_COUNT::NUMBER(38, 0), " in sql
    assert sql.endswith("FROM @S/load_1/) FILE_FORMAT = (TYPE = PARQUET) PURGE = TRUE")

"""The Snowflake sink's staging file: what COPY reads back is what the rows held.

The COPY options the loads use (``FIELD_OPTIONALLY_ENCLOSED_BY='"'``, ``NULL_IF=('\\N')``) are
read here with Python's csv module, which follows the same quoting rules; the loads themselves
run against the emulator in tests/integration/test_sinks.py.
"""
import csv
import gzip
import io
import json

from hypothesis import given, settings, strategies as st

from sensory.io.snowflake import NULL_MARKER, write_csv_gz
from sensory.io.snowflake_schema import TableSpec

SPEC = TableSpec("T", [("ID", "VARCHAR"), ("TEXT", "VARCHAR"), ("COUNT", "NUMBER"),
                       ("TAGS", "VARIANT")], ("ID",))

# Text as users write it: quotes, commas, line breaks, Bangla, emoji, the NULL marker itself.
_TEXT = st.one_of(st.none(), st.text(), st.sampled_from(
    ['say "hi", then\nleave', "\r\n", "দাম ৳১২০০ 📱", NULL_MARKER + "x", ",", '"']))
_ROWS = st.lists(st.fixed_dictionaries({
    "ID": st.text(min_size=1),
    "TEXT": _TEXT,
    "COUNT": st.one_of(st.none(), st.integers(-2**63, 2**63 - 1)),
    "TAGS": st.one_of(st.none(), st.lists(st.text(max_size=8), max_size=3)),
}), max_size=20)


def _read_back(path):
    with open(path, "rb") as handle:
        text = gzip.decompress(handle.read()).decode("utf-8")
    return list(csv.reader(io.StringIO(text, newline="")))


@settings(max_examples=150, deadline=None)
@given(rows=_ROWS)
def test_every_value_reads_back_as_written(tmp_path_factory, rows):
    path = str(tmp_path_factory.mktemp("staging") / "rows.csv.gz")
    write_csv_gz(path, SPEC, rows)
    back = _read_back(path)
    assert len(back) == len(rows)
    for row, fields in zip(rows, back):
        expected_count = NULL_MARKER if row["COUNT"] is None else str(row["COUNT"])
        expected_text = NULL_MARKER if row["TEXT"] is None else row["TEXT"]
        assert fields[0] == row["ID"]
        assert fields[1] == expected_text
        assert fields[2] == expected_count
        if row["TAGS"] is None:
            assert fields[3] == NULL_MARKER
        else:
            assert json.loads(fields[3]) == row["TAGS"]


def test_the_file_is_one_gzip_member_with_a_fixed_header(tmp_path):
    # mtime=0: the same rows give the same bytes, so a retried load PUTs an identical file.
    rows = [{"ID": "a", "TEXT": "x", "COUNT": 1, "TAGS": ["#t"]}]
    first, second = tmp_path / "1.csv.gz", tmp_path / "2.csv.gz"
    write_csv_gz(str(first), SPEC, rows)
    write_csv_gz(str(second), SPEC, rows)
    assert first.read_bytes() == second.read_bytes()
    assert _read_back(str(first)) == [["a", "x", "1", '["#t"]']]

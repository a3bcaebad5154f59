"""``WriteToSnowflake``: batched, idempotent loads through a stage, MERGE on natural keys.

Each flush writes one Parquet file per table, PUTs it to a temporary stage, COPYs it into a
temporary staging table and MERGEs that into the target on the table's natural key, so a
replayed batch changes nothing. Credentials and endpoint come from ``SnowflakeSettings``
(environment; the local emulator by default).
"""
import logging
import os
import shutil
import tempfile
import threading
import uuid
import zlib
from typing import Any, Iterable, Optional

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam import PCollection

from sensory.deadletter import SNOWFLAKE_SINK
from sensory.io.snowflake_conn import SnowflakeSettings, connect
from sensory.io.sink import BufferedSinkFn, split_sink_outputs
from sensory.io.snowflake_schema import ROW_MAPPERS, TABLES, WEATHER_LOGS, TableSpec, _iso_now, \
    record_key, variant_text

_LOGGER = logging.getLogger(__name__)

NAMESPACE = "sensory.snowflake_sink"
DEFAULT_BATCH_SIZE = 10_000
DEFAULT_MAX_BUFFERING_S = 60.0
# How records reach the loads: BUNDLE buffers in the sink DoFn and loads at least once per
# bundle; KEYED holds them in a keyed GroupIntoBatches (runner state, checkpointed) until a batch
# fills or waited max_buffering_s, so loads outlive bundles.
BUNDLE_BATCHING = "bundle"
KEYED_BATCHING = "keyed"
BATCHING_MODES = (BUNDLE_BATCHING, KEYED_BATCHING)
# Staging file columns; VARIANT and TIMESTAMP_TZ as text, parsed by the MERGE (merge_sql).
_ARROW_TYPES = {"VARCHAR": pa.string(), "VARIANT": pa.string(), "TIMESTAMP_TZ": pa.string(),
                "NUMBER": pa.int64(), "FLOAT": pa.float64(), "BOOLEAN": pa.bool_()}
_NUMBER_38 = pa.decimal128(38, 0)
# Staging table columns that differ from the target's.
_STAGING_TYPES = {"VARIANT": "VARCHAR", "TIMESTAMP_TZ": "VARCHAR"}
# Snappy: what every Parquet reader (Snowflake's COPY included) takes, at little CPU.
_PARQUET_COMPRESSION = "snappy"


def merge_sql(table: str, staging: str, target: Optional[str] = None) -> str:
    """MERGE from a staging table (VARIANTs as text, times as ISO text) into ``table``.

    ``target`` names another table of the same shape to merge into (benchmarks, tests).
    """
    spec = TABLES[table]
    casts = []
    for name, kind in spec.columns:
        if kind == "VARIANT":
            casts.append(f"PARSE_JSON({name}) AS {name}")
        elif kind == "TIMESTAMP_TZ":
            casts.append(f"{name}::TIMESTAMP_TZ AS {name}")
        else:
            casts.append(name)
    names = [name for name, _ in spec.columns]
    on = " AND ".join(f"t.{k} = s.{k}" for k in spec.key)
    update = ", ".join(f"{n} = s.{n}" for n in names if n not in spec.key)
    return (f"MERGE INTO {target or table} t USING (SELECT {', '.join(casts)} FROM {staging}) s ON {on} "
            f"WHEN MATCHED THEN UPDATE SET {update} "
            f"WHEN NOT MATCHED THEN INSERT ({', '.join(names)}) "
            f"VALUES ({', '.join('s.' + n for n in names)})")


def _arrow_column(kind: str, values: list) -> pa.Array:
    if kind == "VARIANT":
        values = [None if value is None else variant_text(value) for value in values]
    try:
        return pa.array(values, _ARROW_TYPES[kind])
    except OverflowError:
        if kind != "NUMBER":
            raise
        # NUMBER is NUMBER(38, 0): a count past 64 bits still loads, as it did from text.
        return pa.array(values, _NUMBER_38)
    except pa.ArrowTypeError:
        if _ARROW_TYPES[kind] != pa.string():
            raise
        # A text column's value of another type loads as its text (as CSV staging did).
        return pa.array([None if value is None else str(value) for value in values], pa.string())


def write_parquet(path: str, spec: TableSpec, rows: Iterable[dict[str, Any]]) -> None:
    """Writes rows as the staging file: Parquet, one column per table column, nulls as nulls.

    VARIANTs travel as JSON text and times as ISO text; the MERGE parses them. Parquet rather
    than CSV: its columns are built and compressed in C++ (a quarter of CSV's CPU per row in
    this process, docs/performance.md), a NULL is never confused with a text that reads ``\\N``,
    and COPY matches columns by name.

    Args:
        path: File to write (``.parquet``).
        spec: The table whose columns the file has.
        rows: Rows as dicts keyed by column name.
    """
    rows = list(rows)
    table = pa.Table.from_arrays(
        [_arrow_column(kind, [row.get(name) for row in rows]) for name, kind in spec.columns],
        names=[name for name, _ in spec.columns])
    pq.write_table(table, path, compression=_PARQUET_COMPRESSION)


def copy_sql(table: str, staging: str, location: str) -> str:
    """COPY of a staging file at ``location`` into ``staging``: each column by its name.

    A COPY with a SELECT names every column; MATCH_BY_COLUMN_NAME would say the same, but the
    emulator cannot describe a temporary table for it.
    """
    spec = TABLES[table]
    names = [name for name, _ in spec.columns]
    # NUMBER spelt out: the emulator casts a bare NUMBER to a 64-bit integer.
    casts = {**_STAGING_TYPES, "NUMBER": "NUMBER(38, 0)"}
    columns = ", ".join(f"$1:{name}::{casts.get(kind, kind)}" for name, kind in spec.columns)
    return (f"COPY INTO {staging} ({', '.join(names)}) FROM (SELECT {columns} FROM {location}) "
            f"FILE_FORMAT = (TYPE = PARQUET) PURGE = TRUE")


class StagingSession:
    """The temporary stage and staging tables that loads through one connection share.

    Temporary objects live as long as their Snowflake session, so a connection creates its
    stage and each table's staging table once; every later load is TRUNCATE, PUT, COPY, MERGE
    (four statements instead of seven, and no stage or table left per load in a long session).
    Make a new one for a new connection.

    Args:
        conn: The open connection (one session) the objects belong to.
    """

    def __init__(self, conn):
        self.conn = conn
        self._suffix = uuid.uuid4().hex[:12].upper()
        self.stage = f"SENSORY_STAGE_{self._suffix}"
        self._stage_ready = False
        self._staging: dict[str, str] = {}  # table -> its staging table, created

    def prepare(self, cursor, table: str) -> str:
        """Readies the stage and an empty staging table for ``table``; returns the latter."""
        if not self._stage_ready:
            cursor.execute(f"CREATE TEMPORARY STAGE {self.stage}")
            self._stage_ready = True
        staging = self._staging.get(table)
        if staging is not None:
            # Empty: the last load's rows, or a failed COPY's partial rows, must not merge again.
            cursor.execute(f"TRUNCATE TABLE {staging}")
            return staging
        staging = f"SENSORY_STG_{table}_{self._suffix}"
        columns = ", ".join(f"{name} {_STAGING_TYPES.get(kind, kind)}"
                            for name, kind in TABLES[table].columns)
        cursor.execute(f"CREATE TEMPORARY TABLE {staging} ({columns})")
        self._staging[table] = staging
        return staging


def load_rows(conn, table: str, rows: list[dict[str, Any]], workdir: str,
              target: Optional[str] = None, session: Optional[StagingSession] = None) -> int:
    """Loads rows into ``table`` through a stage and a MERGE; returns the rows merged.

    ``stage_rows`` then ``merge_staged``.

    Args:
        conn: An open connection with the raw-data schema selected.
        table: Table whose shape the rows have (a key of ``TABLES``).
        rows: Rows as dicts keyed by column name; duplicates of a key keep the last one.
        workdir: Local directory for the staging file.
        target: Table to merge into instead of ``table`` (same columns).
        session: The connection's ``StagingSession``, reused across loads; None makes one for
            this load alone.
    """
    session = session or StagingSession(conn)
    staging, count = stage_rows(conn, table, rows, workdir, session)
    merge_staged(conn, table, staging, target)
    return count


def merge_staged(conn, table: str, staging: str, target: Optional[str] = None) -> None:
    """MERGEs what ``stage_rows`` put in ``staging`` into ``table`` (or ``target``)."""
    cursor = conn.cursor()
    try:
        cursor.execute(merge_sql(table, staging, target))
    finally:
        cursor.close()


def stage_rows(conn, table: str, rows: list[dict[str, Any]], workdir: str,
               session: StagingSession) -> tuple[str, int]:
    """Puts rows in the session's staging table for ``table``, replacing what it held.

    Args:
        conn: An open connection with the raw-data schema selected.
        table: Table whose shape the rows have (a key of ``TABLES``).
        rows: Rows as dicts keyed by column name; duplicates of a key keep the last one.
        workdir: Local directory for the staging file.
        session: The connection's ``StagingSession``.

    Returns:
        The staging table and how many rows it holds (one per key).
    """
    spec = TABLES[table]
    if session.conn is not conn:
        raise ValueError("session belongs to another connection")
    # MERGE refuses a source with two rows for one key; the latest version wins.
    unique = {tuple(row[k] for k in spec.key): row for row in rows}
    # Each load's file goes to a folder of its own in the stage and COPY reads only that folder,
    # so a file an earlier load left (a PURGE that failed) is never loaded again. (COPY's FILES
    # option would say the same, but the emulator cannot resolve it on an internal stage.)
    load_id = uuid.uuid4().hex[:12]
    path = os.path.join(workdir, f"{table.lower()}_{load_id}.parquet")
    location = f"@{session.stage}/load_{load_id}/"
    write_parquet(path, spec, unique.values())
    cursor = conn.cursor()
    try:
        staging = session.prepare(cursor, table)
        # Parquet compresses inside the file; AUTO_COMPRESS would gzip it once more.
        cursor.execute(f"PUT 'file://{path}' {location} AUTO_COMPRESS=FALSE")
        # PURGE: the loaded file goes at once; the stage lives as long as the session. (The
        # emulator cannot even drop a stage: before PURGE, 1.4 GB of files piled up in a day.)
        cursor.execute(copy_sql(table, staging, location))
    finally:
        cursor.close()
        os.unlink(path)
    return staging, len(unique)


# Tables whose rows repeat across records: every record of a city carries the same weather
# observation until the next one. A row this sink instance has already merged is not loaded
# again, so most flushes of a stream load one table instead of two (a load costs a stage, a
# COPY and a MERGE whatever its size).
_REPEATING_TABLES = (WEATHER_LOGS,)
_MAX_REMEMBERED_ROWS = 10_000


class _WriteFn(BufferedSinkFn):
    def __init__(self, settings: SnowflakeSettings, **kwargs):
        super().__init__(namespace=NAMESPACE, processor=SNOWFLAKE_SINK, **kwargs)
        self._settings = settings
        self._workdir = None
        self._merged: dict[str, set] = {}
        self._merged_lock = None
        self._writer_state = None  # each writer thread's StagingSession (a threading.local)

    def setup(self):
        super().setup()
        self._workdir = tempfile.mkdtemp(prefix="sensory-snowflake-")
        self._merged = {table: set() for table in _REPEATING_TABLES}
        self._merged_lock = threading.Lock()
        self._writer_state = threading.local()

    def teardown(self):
        super().teardown()  # the writer thread has stopped: no load uses the folder any more
        if self._workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def _not_yet_merged(self, table: str, rows: list[dict]) -> list[dict]:
        if table not in self._merged:
            return rows
        key = TABLES[table].key
        with self._merged_lock:
            merged = set(self._merged[table])
        return [row for row in rows if tuple(row[k] for k in key) not in merged]

    def _remember(self, table: str, rows: list[dict]) -> None:
        if table not in self._merged:
            return
        key = TABLES[table].key
        with self._merged_lock:
            merged = self._merged[table]
            if len(merged) + len(rows) > _MAX_REMEMBERED_ROWS:
                merged.clear()  # forgetting only costs a repeated (idempotent) MERGE
            merged.update(tuple(row[k] for k in key) for row in rows)

    def written_key(self, record: dict) -> str:
        return record_key(record)

    def open_client(self):
        return connect(self._settings)

    def prepare_client(self, client) -> None:
        _create_tables(client)

    def write_batch(self, batch: list[dict]):
        ingested_at = _iso_now()
        rows: dict[str, list[dict]] = {}
        for record in batch:
            for table, row in ROW_MAPPERS[record["_record_type"]](record, ingested_at):
                rows.setdefault(table, []).append(row)

        rows = {table: self._not_yet_merged(table, table_rows)
                for table, table_rows in rows.items()}

        def load_all():
            conn = self.client()
            # A failed load reset the client: a new connection is a new session, whose
            # temporary stage and staging tables do not exist yet.
            session = getattr(self._writer_state, "session", None)
            if session is None or session.conn is not conn:
                session = self._writer_state.session = StagingSession(conn)
            # Staging runs beside another writer's load; the MERGEs follow hand-off order, so
            # the later version of a record is the one that stays.
            staged = [(table, stage_rows(conn, table, table_rows, self._workdir, session)[0])
                      for table, table_rows in rows.items() if table_rows]
            with self.in_order():
                for table, staging in staged:
                    merge_staged(conn, table, staging)
        # MERGE on natural keys makes a retried (partly applied) batch harmless.
        self.retrying(f"loading {len(batch)} records", load_all)
        for table, table_rows in rows.items():
            self._remember(table, table_rows)
        return {}


def shard_of(record: dict, shards: int) -> int:
    """The keyed batching's key of a record, in ``range(shards)``.

    A crc32 of the natural key, the same in every process (``hash`` of a str is not), so a
    replayed record lands under the same key.
    """
    return zlib.crc32(record_key(record).encode("utf-8")) % shards


class WriteToSnowflake(beam.PTransform[PCollection[dict], PCollection[str]]):
    """Writes processed records to the raw-data tables; returns ``(written_keys, dead_letters)``.

    Social records go to SOCIAL_POSTS, market records to MARKET_ORDERS and PRICE_HISTORY, and the
    weather they carry to WEATHER_LOGS. A batch that still fails after the retries becomes dead
    letters from ``snowflake-sink`` (replayable), never a silent loss.

    A load costs four statements whatever its size (seven on a connection's first, which creates
    its stage and staging table: ``StagingSession``), and the sink DoFn must load what it holds
    when its bundle ends (a bundle's input is committed then). Runners that end bundles every
    ~100 ms (Flink streaming) would load ten times a second; ``batching="keyed"`` first groups
    records in a keyed ``GroupIntoBatches`` (state the runner checkpoints), so a load happens
    when ``batch_size`` records or ``max_buffering_s`` are reached (docs/performance.md).

    Args:
        settings: Connection settings; ``SnowflakeSettings.from_env()`` when None.
        batch_size: Records per load (the plan's default: 10,000).
        max_buffering_s: Longest a record waits in the buffer before a load (default 60 s).
        max_retries: Retries of a failed load before dead-lettering it.
        backoff_s: First retry delay; doubles each retry.
        batching: ``"bundle"`` (buffer in the sink, load at least at every bundle end) or
            ``"keyed"`` (keyed ``GroupIntoBatches`` first; needs a runner with state and
            timers).
        shards: Keys of the keyed batching (parallel loads); ignored with ``"bundle"``.
        writers: Loads each sink instance runs side by side, each on its own connection: one
            batch's file and COPY go on while the one before it MERGEs. MERGEs keep hand-off
            order. The pipelines pass ``--snowflake_writers`` (default 2).
    """

    def __init__(self, *, settings: Optional[SnowflakeSettings] = None,
                 batch_size: int = DEFAULT_BATCH_SIZE,
                 max_buffering_s: float = DEFAULT_MAX_BUFFERING_S, max_retries: int = 3,
                 backoff_s: float = 1.0, batching: str = BUNDLE_BATCHING, shards: int = 1,
                 writers: int = 1):
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if max_buffering_s <= 0 or max_retries < 0 or backoff_s < 0:
            raise ValueError("max_buffering_s must be > 0, max_retries and backoff_s >= 0")
        if batching not in BATCHING_MODES:
            raise ValueError(f"batching must be one of {BATCHING_MODES}, got {batching!r}")
        if shards < 1:
            raise ValueError(f"shards must be >= 1, got {shards}")
        if not isinstance(writers, int) or writers < 1:
            raise ValueError(f"writers must be a positive integer, got {writers!r}")
        self._settings = settings or SnowflakeSettings.from_env()
        self._batch_size = batch_size
        self._max_buffering_s = max_buffering_s
        self._max_retries = max_retries
        self._backoff_s = backoff_s
        self._batching = batching
        self._shards = shards
        self._writers = writers

    def expand(self, records):  # -> (written_keys, dead_letters)
        if self._batching == KEYED_BATCHING:
            shards = self._shards
            records = (
                records
                | "KeyByShard" >> beam.Map(lambda record: (shard_of(record, shards), record)
                                           ).with_output_types(tuple[int, dict])
                | "GroupIntoBatches" >> beam.GroupIntoBatches(
                    self._batch_size, max_buffering_duration_secs=self._max_buffering_s)
                | "Unbatch" >> beam.FlatMap(lambda shard_batch: shard_batch[1]))
        return split_sink_outputs(records, "Load", _WriteFn(
            self._settings, batch_size=self._batch_size, max_buffering_s=self._max_buffering_s,
            max_retries=self._max_retries, backoff_s=self._backoff_s, writers=self._writers))


def _create_tables(conn) -> None:
    # Tables only (cheap, idempotent); views come with `sensory snowflake init`.
    cursor = conn.cursor()
    for spec in TABLES.values():
        cursor.execute(spec.ddl())
    cursor.close()


def init_schema(settings: SnowflakeSettings) -> list[str]:
    """Creates the tables and views (idempotent); returns the statements run."""
    from sensory.io.snowflake_schema import schema_statements  # pylint: disable=import-outside-toplevel
    conn = connect(settings)
    try:
        cursor = conn.cursor()
        statements = schema_statements()
        for statement in statements:
            cursor.execute(statement)
        return statements
    finally:
        conn.close()


def table_counts(settings: SnowflakeSettings) -> dict[str, int]:
    """Row counts of the raw tables (missing tables count 0)."""
    conn = connect(settings)
    try:
        cursor = conn.cursor()
        counts = {}
        for table in TABLES:
            try:
                counts[table] = cursor.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            except Exception:  # pylint: disable=broad-except
                counts[table] = 0
        return counts
    finally:
        conn.close()

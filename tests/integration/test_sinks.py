"""WriteToSnowflake and WriteToWeaviate against the stack: counts, replays, outages, search."""
import json
import os
import threading
import time
import uuid

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from click.testing import CliRunner

from sensory.cli.main import main
from sensory.cli.sinks import semantic_search
from sensory.io.snowflake import WriteToSnowflake
from sensory.io.snowflake_conn import SnowflakeSettings, connect
from sensory.io import weaviate as weaviate_io
from sensory.io.weaviate import WeaviateSettings, WriteToWeaviate, existing_hnsw, init_collections
from sensory.io.weaviate import connect as weaviate_connect
from sensory.io.weaviate_schema import COLLECTIONS, SOCIAL_POST
from sensory.stack import manager

pytestmark = pytest.mark.integration


def _records(prefix, n, with_vectors=True):
    rng = np.random.default_rng(7)
    out = []
    for i in range(n):
        vector = rng.normal(size=384)
        out.append({
            "_record_type": "social", "post_id": f"{prefix}-{i}", "platform": "tiktok",
            "author_hash": "a" * 64, "content": f"post {i}", "engagement_count": i,
            "posted_at": "2025-12-20T10:30:00Z", "hashtags": ["#x"], "_anonymized": True,
            "_anonymization_version": "1", "_source": {"topic": "t", "partition": 0, "offset": i},
            "context": {"category": {"name": "general", "confidence": 0.0},
                        "weather": {"city": "Dhaka", "timestamp": "2025-12-20T10:00:00Z",
                                    "temperature": 20.0, "condition": "Clear", "humidity": 50.0,
                                    "wind_speed": 2.0, "is_extreme_weather": False}},
            **({"embedding": (vector / np.linalg.norm(vector)).tolist(),
                "_embedding_model": "test"} if with_vectors else {})})
    return out


@pytest.fixture
def prefix(snowflake_settings):
    """A unique post_id prefix; the test's rows and objects are deleted afterwards."""
    value = f"it{uuid.uuid4().hex[:8]}"
    yield value
    manager.up()  # a test may have left a service down
    conn = connect(snowflake_settings)
    try:
        conn.cursor().execute("DELETE FROM SOCIAL_POSTS WHERE POST_ID LIKE %s", (f"{value}-%",))
    finally:
        conn.close()
    from weaviate.classes.query import Filter
    with weaviate_connect(WeaviateSettings.from_env()) as client:
        if client.collections.exists(SOCIAL_POST):
            client.collections.get(SOCIAL_POST).data.delete_many(
                where=Filter.by_property("post_id").like(f"{value}-*"))


def _run(records, *transforms):
    """Runs records through sinks; returns the dead letters they produced."""
    dead_path = f"/tmp/sensory-it-dead-{uuid.uuid4().hex}"
    with beam.Pipeline() as p:
        source = p | beam.Create(records)
        dead = [source | f"Sink{i}" >> t for i, t in enumerate(transforms)]
        _ = (tuple(d[1] for d in dead) | beam.Flatten() | beam.Map(json.dumps)
             | beam.io.WriteToText(dead_path, shard_name_template=""))
    try:
        with open(dead_path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle]
    finally:
        os.unlink(dead_path)


def _snowflake_count(settings, prefix):
    conn = connect(settings)
    try:
        return conn.cursor().execute(
            "SELECT COUNT(*) FROM SOCIAL_POSTS WHERE POST_ID LIKE %s", (f"{prefix}-%",)
        ).fetchone()[0]
    finally:
        conn.close()


def _weaviate_count(client, prefix):
    from weaviate.classes.query import Filter
    if not client.collections.exists(SOCIAL_POST):
        return 0
    return client.collections.get(SOCIAL_POST).aggregate.over_all(
        filters=Filter.by_property("post_id").like(f"{prefix}-*"), total_count=True).total_count


def test_n_records_make_n_rows_and_n_objects_and_replays_change_nothing(
        snowflake_settings, weaviate_client, prefix):
    n = 120
    records = _records(prefix, n)
    for _ in range(2):  # the second run is a replay of the same batch
        dead = _run(records, WriteToSnowflake(settings=snowflake_settings, batch_size=50),
                    WriteToWeaviate(settings=WeaviateSettings.from_env(), batch_size=40))
        assert dead == []
        assert _snowflake_count(snowflake_settings, prefix) == n
        assert _weaviate_count(weaviate_client, prefix) == n


def test_keyed_batching_writes_every_record_once(snowflake_settings, prefix):
    n = 130  # two keys, batches of 50: full batches and the rest the window's end flushes
    with TestPipeline() as pipeline:
        written, dead = (
            pipeline | beam.Create(_records(prefix, n, with_vectors=False))
            | WriteToSnowflake(settings=snowflake_settings, batch_size=50, batching="keyed",
                               shards=2))
        assert_that(written, equal_to([f"{prefix}-{i}" for i in range(n)]), label="written")
        assert_that(dead, equal_to([]), label="no dead letters")
    assert _snowflake_count(snowflake_settings, prefix) == n


def test_sink_down_at_start_is_retried_until_it_comes_back(snowflake_settings, prefix):
    manager.down(["snowflake"])
    restarter = threading.Timer(2.0, lambda: manager.up(["snowflake"]))
    restarter.start()
    try:
        dead = _run(_records(prefix, 30), WriteToSnowflake(
            settings=snowflake_settings, batch_size=100, max_retries=5, backoff_s=1.0))
    finally:
        restarter.join()
        manager.up(["snowflake"])
    assert dead == []
    assert _snowflake_count(snowflake_settings, prefix) == 30


def test_sinks_that_stay_down_dead_letter_everything_and_replay_restores_it(
        snowflake_settings, weaviate_client, tmp_path, prefix):
    n = 25
    closed = SnowflakeSettings.from_env({"SENSORY_SNOWFLAKE_PORT": "1"})
    nowhere = WeaviateSettings(http_port=1, grpc_port=2)
    dead = _run(_records(prefix, n),
                WriteToSnowflake(settings=closed, max_retries=1, backoff_s=0.1),
                WriteToWeaviate(settings=nowhere, max_retries=1, backoff_s=0.1))
    assert len(dead) == 2 * n
    assert {d["metadata"]["processor"] for d in dead} == {"snowflake-sink", "weaviate-sink"}
    assert _snowflake_count(snowflake_settings, prefix) == 0
    letters = tmp_path / "dead.jsonl"
    letters.write_text("\n".join(json.dumps(d) for d in dead
                                 if d["metadata"]["processor"] == "snowflake-sink"))
    result = CliRunner().invoke(main, ["dlq", "replay", "--file", str(letters)])
    assert result.exit_code == 0, result.output
    assert _snowflake_count(snowflake_settings, prefix) == n
    assert _weaviate_count(weaviate_client, prefix) == n


def test_smartphone_query_returns_smartphone_posts_first(stack, tmp_path, pii_key):
    from sensory.pipelines import social
    from sensory.samples import sample_lines
    source = tmp_path / "mixed.jsonl"
    source.write_text("\n".join(sample_lines("social", 150, seed=99)) + "\n")
    code = social.run([f"--input_file={source}", "--no_weather", "--sinks=weaviate",
                       f"--bootstrap_servers={stack['kafka'].address}"])
    assert code == 0
    hits = semantic_search("cheap smartphones", collection=SOCIAL_POST, k=5)
    assert [hit["properties"]["product_category"] for hit in hits] == ["smartphone"] * 5


class _OutageAfterFirstWrite(beam.DoFn):
    """Stops a stack service when the sink reports its first write; restarts it ``after_s`` later.

    Applied to the sink's written keys: the sink connects as the run starts, so an outage
    started before its first write would meet the connect, not a write.
    """

    def __init__(self, service, after_s):
        super().__init__()
        self._service, self._after_s = service, after_s
        self._stopped = False

    def process(self, _written_key):
        if not self._stopped:
            self._stopped = True
            manager.down([self._service])
            threading.Timer(self._after_s, lambda: manager.up([self._service])).start()
        return ()


@pytest.mark.parametrize("service", ["snowflake", "weaviate"])
def test_sink_going_down_mid_run_loses_nothing(service, snowflake_settings, weaviate_client,
                                               prefix):
    n = 40
    sink = (WriteToSnowflake(settings=snowflake_settings, batch_size=10, max_retries=5,
                             backoff_s=1.0) if service == "snowflake" else
            WriteToWeaviate(settings=WeaviateSettings.from_env(), batch_size=10, max_retries=5,
                            backoff_s=1.0))
    dead_path = f"/tmp/sensory-it-dead-{uuid.uuid4().hex}"
    try:
        p = beam.Pipeline()
        written, dead = p | beam.Create(_records(prefix, n)) | sink
        _ = written | beam.ParDo(_OutageAfterFirstWrite(service, 3.0))
        _ = dead | beam.Map(json.dumps) | beam.io.WriteToText(dead_path, shard_name_template="")
        result = p.run()
        result.wait_until_finish()
    finally:
        deadline = time.monotonic() + 60
        while not manager.status([service])[service].healthy and time.monotonic() < deadline:
            time.sleep(1)
    metrics = result.metrics()
    retries = sum(c.committed for c in metrics.query(
        MetricsFilter().with_name("retries"))["counters"])
    slowest_ms = max(d.committed.max for d in metrics.query(
        MetricsFilter().with_name("flush_latency_ms"))["distributions"])
    # The outage meets an open connection: our retry or the client's own request retries ride
    # it out; either way a write waited for it.
    assert retries > 0 or slowest_ms >= 2_000, \
        f"the outage never reached the sink (retries {retries}, slowest flush {slowest_ms} ms)"
    with open(dead_path, encoding="utf-8") as handle:
        dead_letters = handle.read()
    os.unlink(dead_path)
    assert dead_letters == ""
    if service == "snowflake":
        assert _snowflake_count(snowflake_settings, prefix) == n
    else:
        with weaviate_connect(WeaviateSettings.from_env()) as fresh:
            assert _weaviate_count(fresh, prefix) == n


def test_a_weather_observation_already_merged_is_not_loaded_again(snowflake_settings, prefix):
    # Every record of a city carries the same observation: the sink merges it once, then only
    # the posts (one load per flush instead of two).
    # pylint: disable=protected-access
    from sensory.io.snowflake import _WriteFn
    city = f"City{prefix}"
    records = _records(prefix, 4, with_vectors=False)
    for record in records:
        record["context"]["weather"]["city"] = city

    def weather_rows():
        conn = connect(snowflake_settings)
        try:
            return conn.cursor().execute(
                "SELECT COUNT(*) FROM WEATHER_LOGS WHERE CITY = %s", (city,)).fetchone()[0]
        finally:
            conn.close()

    fn = _WriteFn(snowflake_settings, batch_size=100, max_buffering_s=60, max_retries=0,
                  backoff_s=0)
    fn.setup()
    try:
        assert fn.write_batch(records[:2]) == {}
        assert weather_rows() == 1
        conn = connect(snowflake_settings)
        try:
            conn.cursor().execute("DELETE FROM WEATHER_LOGS WHERE CITY = %s", (city,))
        finally:
            conn.close()
        assert fn.write_batch(records[2:3]) == {}
        assert weather_rows() == 0  # the same observation was not loaded again
        records[3]["context"]["weather"]["timestamp"] = "2025-12-20T11:00:00Z"
        assert fn.write_batch(records[3:]) == {}
        assert weather_rows() == 1  # a new observation is
        assert _snowflake_count(snowflake_settings, prefix) == 4
    finally:
        fn.teardown()
        conn = connect(snowflake_settings)
        try:
            conn.cursor().execute("DELETE FROM WEATHER_LOGS WHERE CITY = %s", (city,))
        finally:
            conn.close()


class _RecordingConnection:
    """The real connection, with every statement its cursors run written down."""

    def __init__(self, conn):
        self._conn = conn
        self.statements = []

    def cursor(self):
        cursor = self._conn.cursor()
        execute = cursor.execute

        def recorded(command, *args, **kwargs):
            self.statements.append(command.split()[0].upper())
            return execute(command, *args, **kwargs)
        cursor.execute = recorded
        return cursor


def test_loads_through_one_session_reuse_its_stage_and_staging_table(snowflake_settings, prefix,
                                                                     tmp_path):
    from sensory.io.snowflake import StagingSession, load_rows
    from sensory.io.snowflake_schema import SOCIAL_POSTS
    conn = connect(snowflake_settings)
    try:
        recording = _RecordingConnection(conn)
        session = StagingSession(recording)
        # A file someone left in the stage: a load takes only its own file.
        stray = tmp_path / "stray.csv"
        stray.write_text(f"{prefix}-stray,tiktok\n")
        conn.cursor().execute(f"CREATE TEMPORARY STAGE {session.stage}")
        conn.cursor().execute(f"PUT 'file://{stray}' @{session.stage} AUTO_COMPRESS=FALSE")
        session._stage_ready = True  # pylint: disable=protected-access

        def rows(values):
            return [{"POST_ID": f"{prefix}-{i}", "PLATFORM": "tiktok", "CONTENT": text,
                     "EVENT_TIME": "2025-12-20T10:30:00+00:00"} for i, text in values]
        assert load_rows(recording, SOCIAL_POSTS, rows([(0, "a"), (1, "b")]), str(tmp_path),
                         session=session) == 2
        first = list(recording.statements)
        assert first == ["CREATE", "PUT", "COPY", "MERGE"]
        assert load_rows(recording, SOCIAL_POSTS, rows([(1, "b2"), (2, "c")]), str(tmp_path),
                         session=session) == 2
        assert recording.statements[len(first):] == ["TRUNCATE", "PUT", "COPY", "MERGE"]
        assert conn.cursor().execute(
            "SELECT POST_ID, CONTENT FROM SOCIAL_POSTS WHERE POST_ID LIKE %s ORDER BY POST_ID",
            (f"{prefix}-%",)).fetchall() == [
                (f"{prefix}-0", "a"), (f"{prefix}-1", "b2"), (f"{prefix}-2", "c")]
        with pytest.raises(ValueError, match="another connection"):
            load_rows(conn, SOCIAL_POSTS, rows([(3, "d")]), str(tmp_path), session=session)
    finally:
        conn.close()


def test_created_collections_get_the_asked_index_settings_and_existing_ones_keep_theirs(
        weaviate_client, monkeypatch, caplog):
    name = f"HnswProbe{uuid.uuid4().hex[:8]}"
    # The real server, a collection of SocialPost's shape under a throwaway name.
    monkeypatch.setattr(weaviate_io, "COLLECTIONS", {name: COLLECTIONS[SOCIAL_POST]})
    try:
        assert init_collections(weaviate_client, max_connections=16, ef_construction=48) == [name]
        assert existing_hnsw(weaviate_client, name) == (16, 48)
        with caplog.at_level("WARNING", logger="sensory.io.weaviate"):
            assert init_collections(weaviate_client, max_connections=16,
                                    ef_construction=48) == []
            assert not caplog.records
            assert init_collections(weaviate_client, max_connections=32,
                                    ef_construction=128) == []
        assert existing_hnsw(weaviate_client, name) == (16, 48)
        assert [r.getMessage() for r in caplog.records] == [
            f"Weaviate collection {name} exists with max_connections=16, ef_construction=48; "
            "the requested 32, 128 apply only to a collection created anew"]
    finally:
        weaviate_client.collections.delete(name)

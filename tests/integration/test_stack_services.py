"""The stack's services answer real clients: Kafka, Redis, Weaviate, the Snowflake emulator."""
import json
import time
import uuid

import pytest
from click.testing import CliRunner

from sensory.cli.main import main
from sensory.topics import TOPICS

pytestmark = pytest.mark.integration


def test_status_json_reports_every_service_healthy(stack):
    result = CliRunner().invoke(main, ["stack", "status", "--json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    # flink is opt-in (`stack up --flink`) and listed only while it runs.
    assert set(status) - {"flink"} == {"kafka", "redis", "weaviate", "snowflake", "openweather",
                                       "pushgateway", "kafka-lag", "prometheus"}
    for name, entry in status.items():
        assert entry["healthy"] is True and entry["pid"] > 0 and entry["version"], name
        assert "127.0.0.1" in entry["address"]


def test_second_up_is_fast(stack):
    began = time.monotonic()
    result = CliRunner().invoke(main, ["stack", "up"])
    assert result.exit_code == 0, result.output
    assert time.monotonic() - began < 10


def test_spec_topics_exist_with_partitions(kafka_bootstrap):
    from sensory.io.kafka_admin import describe_topics
    partitions = describe_topics(kafka_bootstrap)
    for name, spec in TOPICS.items():
        assert partitions.get(name) == spec.partitions, name


def test_consumer_group_resumes_from_committed_offset(kafka_bootstrap):
    from confluent_kafka import Consumer, Producer
    from sensory.io.kafka_admin import ensure_topics
    from sensory.topics import TopicSpec
    topic, group = f"it-resume-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_bootstrap, {topic: TopicSpec(1, 1)})
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    for i in range(10):
        producer.produce(topic, value=str(i).encode())
    assert producer.flush(30) == 0

    def consume(count):
        consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group,
                             "auto.offset.reset": "earliest", "enable.auto.commit": False})
        consumer.subscribe([topic])
        values, deadline = [], time.monotonic() + 30
        while len(values) < count and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None and not message.error():
                values.append(int(message.value()))
        consumer.commit(asynchronous=False)
        consumer.close()
        return values

    assert consume(4) == [0, 1, 2, 3]
    assert consume(6) == [4, 5, 6, 7, 8, 9]  # a new consumer of the group resumes after 3


def test_redis_set_get_with_ttl(redis_url):
    import redis
    client = redis.Redis.from_url(redis_url)
    key = f"it:{uuid.uuid4().hex}"
    client.set(key, "value", ex=1)
    assert client.get(key) == b"value"
    assert 0 < client.ttl(key) <= 1
    time.sleep(1.5)
    assert client.get(key) is None


def test_weaviate_near_vector_with_our_vectors(weaviate_client):
    from weaviate.classes.config import Configure, DataType, Property, VectorDistances
    from weaviate.classes.query import MetadataQuery
    name = f"ItStack{uuid.uuid4().hex[:8]}"
    collection = weaviate_client.collections.create(
        name, properties=[Property(name="label", data_type=DataType.TEXT)],
        vector_config=Configure.Vectors.self_provided(
            vector_index_config=Configure.VectorIndex.hnsw(
                distance_metric=VectorDistances.COSINE)))
    try:
        vectors = {"east": [1.0, 0.0, 0.0], "north": [0.0, 1.0, 0.0], "up": [0.0, 0.0, 1.0]}
        with collection.batch.fixed_size(batch_size=10) as batch:
            for label, vector in vectors.items():
                batch.add_object(properties={"label": label}, vector=vector)
        assert not collection.batch.failed_objects
        hits = collection.query.near_vector([0.9, 0.1, 0.0], limit=2,
                                            return_metadata=MetadataQuery(distance=True))
        assert [hit.properties["label"] for hit in hits.objects] == ["east", "north"]
        assert hits.objects[0].metadata.distance < 0.01
    finally:
        weaviate_client.collections.delete(name)


def test_snowflake_create_merge_select(snowflake_settings):
    from sensory.io.snowflake_conn import connect
    table = f"IT_{uuid.uuid4().hex[:8].upper()}"
    conn = connect(snowflake_settings)
    try:
        cursor = conn.cursor()
        cursor.execute(f"CREATE TABLE {table} (ID VARCHAR, N NUMBER)")
        merge = (f"MERGE INTO {table} t USING (SELECT %s AS ID, %s AS N) s ON t.ID = s.ID "
                 "WHEN MATCHED THEN UPDATE SET N = s.N "
                 "WHEN NOT MATCHED THEN INSERT (ID, N) VALUES (s.ID, s.N)")
        cursor.execute(merge, ("a", 1))
        cursor.execute(merge, ("a", 2))
        cursor.execute(merge, ("b", 3))
        assert cursor.execute(f"SELECT ID, N FROM {table} ORDER BY ID").fetchall() == [
            ("a", 2), ("b", 3)]
        cursor.execute(f"DROP TABLE {table}")
    finally:
        conn.close()


def test_snowflake_stage_files_stay_in_the_stack_folder(snowflake_settings, tmp_path):
    from sensory.io.snowflake_conn import connect
    from sensory.stack.config import local_dir
    stage = f"IT_STAGE_{uuid.uuid4().hex[:8].upper()}"
    source = tmp_path / "rows.csv"
    source.write_text("a,1\n")
    conn = connect(snowflake_settings)
    try:
        cursor = conn.cursor()
        cursor.execute(f"CREATE TEMPORARY STAGE {stage}")
        cursor.execute(f"PUT 'file://{source}' @{stage} AUTO_COMPRESS=FALSE")
        stored = list((local_dir() / "snowflake" / "stages").rglob(f"{stage}/rows.csv"))
        assert len(stored) == 1 and stored[0].read_text() == "a,1\n"
        # The emulator cannot DROP a stage; a temporary one ends with the session, its files
        # stay (the sink's loads use PURGE).
        stored[0].unlink()
        stored[0].parent.rmdir()
    finally:
        conn.close()

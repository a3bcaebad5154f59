"""Both pipelines on the stack's real Flink 1.19 session cluster, batch and streaming.

One cluster for the module (``sensory stack up --flink`` through ``manager.up``). Set
``SENSORY_SKIP_FLINK=1`` to skip the module; the skip reason is printed in pytest's summary.
"""
import glob
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

import pytest

from dashboard_queries import dashboard_targets
from heldout_corpus import corpus
from kafka_produce import produce
from sensory.io.kafka_admin import ensure_topics
from sensory.io.snowflake_conn import connect
from sensory.stack import config, manager
from sensory.stack.flink import FlinkService
from sensory.stack.prometheus import query as prometheus_query
from sensory.topics import SCHEMA_ERRORS_TOPIC, TopicSpec

pytestmark = [pytest.mark.integration, pytest.mark.flink]

if os.environ.get("SENSORY_SKIP_FLINK") == "1":
    pytest.skip("SENSORY_SKIP_FLINK=1: the Flink cluster tests are skipped on request",
                allow_module_level=True)

PII_KEY = "flink-it-key-0123456789abcdef0123456789"
CLUSTER_CONFIG = "runner_configs/flink_cluster.yaml"
COMMON = ["--no_weather", "--no_embeddings"]
_TABLE_KEYS = {"social": ("SOCIAL_POSTS", ("POST_ID",)),
               "market": ("MARKET_ORDERS", ("ORDER_ID", "PRODUCT_ID"))}


@pytest.fixture(scope="module")
def flink(stack):
    """The stack's Flink cluster (started if needed; stopped again if this module started it)."""
    try:
        started = manager.up(["flink"], progress=print)
    except Exception:
        manager.down(["flink"])  # what did start, so no half cluster outlives the module
        raise
    (service,) = manager.services(["flink"])
    yield service
    if started:
        manager.down(["flink"])


@pytest.fixture(scope="module")
def key_file(tmp_path_factory):
    """The PII key as a file: EXTERNAL workers run in the worker pool, not in this process."""
    path = tmp_path_factory.mktemp("flink") / "pii.key"
    path.write_text(PII_KEY)
    return str(path)


def _rest(path):
    with urllib.request.urlopen(f"http://{config.HOST}:{config.FLINK_REST_PORT}{path}",
                                timeout=10) as reply:
        return json.load(reply)


def _jobs():
    return {job["jid"]: job for job in _rest("/jobs/overview")["jobs"]}


def _fresh_topic(bootstrap, partitions=3):
    topic = f"fl-{uuid.uuid4().hex[:10]}"
    ensure_topics(bootstrap, {topic: TopicSpec(partitions, 1)})
    return topic


def _sensory(*args, timeout=600):
    env = {**os.environ, "SENSORY_PII_KEY": PII_KEY}
    began = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "sensory.cli.main", "-v", *args],
                            capture_output=True, env=env, timeout=timeout, check=False)
    logs = (result.stdout + result.stderr).decode("utf-8", "replace")
    assert result.returncode == 0, logs[-3000:]
    return logs, time.monotonic() - began


def _record_key(kind, record):
    return record["post_id"] if kind == "social" else (record["order_id"], record["product_id"])


def _sink_rows(settings, kind, topic):
    table, key = _TABLE_KEYS[kind]
    conn = connect(settings)
    try:
        cursor = conn.cursor()
        cursor.execute(f"SELECT * FROM {table} WHERE KAFKA_TOPIC = %s", (topic,))
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, row)) for row in cursor.fetchall()]
    finally:
        conn.close()
    keys = [row[key[0]] if len(key) == 1 else tuple(row[k] for k in key) for row in rows]
    return rows, keys


def _delete_rows(settings, topic):
    conn = connect(settings)
    try:
        for table, _ in _TABLE_KEYS.values():
            conn.cursor().execute(f"DELETE FROM {table} WHERE KAFKA_TOPIC = %s", (topic,))
    finally:
        conn.close()


def _schema_dead_letters(bootstrap, source_topic):
    """Dead letters in ``schema-validation-errors`` whose source is ``source_topic``."""
    from confluent_kafka import Consumer
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.partition.eof": True,
                         "log_level": 3})
    consumer.subscribe([SCHEMA_ERRORS_TOPIC])
    found, eof, deadline = [], set(), time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None:
                continue
            if message.error():
                if message.error().code() == -191:  # _PARTITION_EOF
                    eof.add(message.partition())
                    if len(eof) == len(consumer.assignment()):
                        break
                continue
            dead = json.loads(message.value())
            if dead.get("metadata", {}).get("source_topic") == source_topic:
                found.append(dead)
    finally:
        consumer.close()
    return found


@pytest.mark.parametrize("kind", ["social", "market"])
def test_bounded_run_on_flink_matches_direct_runner(flink, kind, kafka_bootstrap,
                                                    snowflake_settings, key_file, tmp_path):
    lines = corpus(kind, 120, seed=random.randrange(1 << 30))
    topic = _fresh_topic(kafka_bootstrap)
    produce(kafka_bootstrap, topic, [line.raw for line in lines])
    try:
        # DirectRunner, python reader, files.
        out = tmp_path / "direct"
        _sensory("run", kind, f"--bootstrap_servers={kafka_bootstrap}", f"--topics={topic}",
                 f"--consumer_group=direct-{topic}", "--read_until_end", "--kafka_impl=python",
                 f"--output_dir={out}", *COMMON)
        direct = [json.loads(l) for f in glob.glob(str(out / "records-*.jsonl")) for l in open(f)]
        direct_keys = {_record_key(kind, r) for r in direct}
        assert len(direct_keys) == sum(line.valid for line in lines)

        # Flink, java reader (auto), real sinks.
        before = set(_jobs())
        logs, took = _sensory("submit", kind, "--config", CLUSTER_CONFIG,
                              f"--bootstrap_servers={kafka_bootstrap}", f"--topics={topic}",
                              f"--consumer_group=flink-{topic}", "--read_until_end",
                              "--sinks=snowflake", f"--pii_key_file={key_file}", *COMMON)
        print(f"flink batch {kind}: {len(lines)} messages, submit to finish {took:.0f} s")
        (job,) = [job for jid, job in _jobs().items() if jid not in before]
        assert job["state"] == "FINISHED", job
        rows, keys = _sink_rows(snowflake_settings, kind, topic)
        dead = _schema_dead_letters(kafka_bootstrap, topic)
        assert len(keys) == len(set(keys)), "a record landed twice in Snowflake"
        assert set(keys) == direct_keys  # same records as the DirectRunner with the python reader
        assert len(rows) + len(dead) == len(lines)
        text = (json.dumps(rows, default=str) + json.dumps(dead) + logs).lower()
        leaked = [p.value for line in lines for p in line.pii if p.value.lower() in text]
        assert not leaked, leaked[:5]
    finally:
        _delete_rows(snowflake_settings, topic)


def _social(topic, i):
    return json.dumps({"platform": "facebook", "post_id": f"{topic}-{i}", "author": "someone",
                       "content": f"Saree sale number {i}", "engagement_count": i,
                       "location": "Dhaka", "posted_at": "2025-12-20T10:00:00Z"}).encode()


def _wait(check, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(2)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def test_streaming_job_survives_taskmanager_kill(flink: FlinkService, kafka_bootstrap,
                                                 snowflake_settings, key_file, tmp_path):
    topic, total = _fresh_topic(kafka_bootstrap), 3000
    audit = tmp_path / "delivered.txt"
    audit.touch()
    produce(kafka_bootstrap, topic, [_social(topic, i) for i in range(100)])
    flags = subprocess.run([sys.executable, "-m", "sensory.cli.main", "submit", "social",
                            "--config", CLUSTER_CONFIG, "--dry-run"], capture_output=True,
                           text=True, check=True).stdout.split()
    before, jars_before = set(_jobs()), {f["id"] for f in _rest("/jars")["files"]}
    job_script = os.path.join(os.path.dirname(__file__), "flink_stream_job.py")
    submit = subprocess.run(
        [sys.executable, job_script, str(audit), *flags, "--streaming", f"--topics={topic}",
         f"--bootstrap_servers={kafka_bootstrap}", f"--consumer_group=stream-{topic}",
         "--sinks=snowflake", "--snowflake_max_buffering_s=2", f"--pii_key_file={key_file}",
         # With weather: Beam 2.62's Flink runner could not checkpoint the side-input join,
         # so --weather_join=auto joins by lookup here (docs/flink.md, "Weather on Flink").
         "--no_embeddings"], capture_output=True, timeout=300, check=False)
    assert submit.returncode == 0, submit.stderr.decode()[-3000:]
    (jid,) = [jid for jid in _jobs() if jid not in before]
    try:
        def delivered():
            return [line for line in audit.read_text().splitlines() if line]

        # Messages produced before the job started, then after it started.
        _wait(lambda: len(set(delivered())) >= 100, 240, "the first 100 messages")
        produce(kafka_bootstrap, topic, [_social(topic, i) for i in range(100, 300)])
        _wait(lambda: len(set(delivered())) >= 300, 120, "messages produced after the start")

        producing = threading.Thread(target=lambda: [
            (produce(kafka_bootstrap, topic, [_social(topic, i) for i in range(s, s + 100)]),
             time.sleep(1)) for s in range(300, total, 100)])
        producing.start()
        _wait(lambda: _rest(f"/jobs/{jid}/checkpoints")["counts"]["completed"] >= 1, 120,
              "a completed checkpoint")
        time.sleep(5)
        os.kill(flink.component_pid("taskmanager"), signal.SIGKILL)
        killed_at = time.monotonic()
        time.sleep(3)
        flink.start_taskmanager()
        producing.join()
        _wait(lambda: len(set(delivered())) >= total, 300, "every message after the kill")
        caught_up_s = time.monotonic() - killed_at
        checkpoints = _rest(f"/jobs/{jid}/checkpoints")
        assert checkpoints["latest"]["restored"] is not None, "the job did not restore"
        time.sleep(10)  # let the sink's last buffers flush
        rows, keys = _wait(lambda: (lambda r: r if len(set(r[1])) >= total else None)(
            _sink_rows(snowflake_settings, "social", topic)), 120, "every row in Snowflake")
        lines = delivered()
        duplicates = len(lines) - len(set(lines))
        print(f"streaming: {total} produced, {len(lines)} delivered before dedup, "
              f"{duplicates} duplicates, caught up {caught_up_s:.0f} s after the TaskManager "
              f"kill; restored from checkpoint {checkpoints['latest']['restored']['id']}")
        assert set(lines) == {f"{topic}-{i}" for i in range(total)}
        assert sorted(keys) == sorted({f"{topic}-{i}" for i in range(total)})  # exactly once
        statuses = {(json.loads(row["CONTEXT"]) if isinstance(row["CONTEXT"], str)
                     else row["CONTEXT"])["weather_status"] for row in rows}
        assert statuses == {"ok"}, statuses  # every Dhaka post got the weather
        # While the job runs, its Beam metrics reach the stack's Prometheus through Flink's
        # reporter: every Flink query of the dashboards returns data.
        pending = [t for t in dashboard_targets() if "flink_" in t[2]]
        assert pending, "the dashboards have no Flink panels"
        deadline = time.monotonic() + 60
        while pending and time.monotonic() < deadline:
            pending = [t for t in pending if not prometheus_query(t[2])]
            time.sleep(0 if not pending else 3)
        assert not pending, "Flink queries without data:\n" + "\n".join(map(str, pending))
    finally:
        try:
            urllib.request.urlopen(urllib.request.Request(
                f"http://{config.HOST}:{config.FLINK_REST_PORT}/jobs/{jid}?mode=cancel",
                method="PATCH"), timeout=10).close()
            # The submitting client exited, so nobody deletes the job's uploaded jar (400 MB).
            for jar in {f["id"] for f in _rest("/jars")["files"]} - jars_before:
                urllib.request.urlopen(urllib.request.Request(
                    f"http://{config.HOST}:{config.FLINK_REST_PORT}/jars/{jar}",
                    method="DELETE"), timeout=10).close()
        finally:
            _delete_rows(snowflake_settings, topic)

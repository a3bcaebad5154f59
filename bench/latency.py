"""Produce-to-searchable latency of the streaming social pipeline, measured from outside.

Starts ``python -m sensory.pipelines.social`` unbounded on a fresh topic (DirectRunner without
``--streaming``: Beam's FnApiRunner runs the unbounded Kafka read, see docs/kafka.md), waits
until a warm-up message is visible, then produces valid sample posts at ``--rate`` messages/s
for ``--duration`` seconds. A poller asks Weaviate (fetch by object UUID) and Snowflake
(``SELECT POST_ID``) every ``--poll_s`` which of the outstanding posts are visible, and records
for each message the time from its produce call to the first poll that saw it. Prints
p50/p95/p99 per sink, how many never showed up, and ``uptime``. The pipeline is stopped at the
end and the rows and objects it wrote are deleted.

Usage: python bench/latency.py [--rate 50] [--duration 120] [--pipeline_args="--opt=value ..."]
"""
import argparse
import json
import os
import random
import secrets
import subprocess
import sys
import threading
import time
import uuid

import requests
from confluent_kafka import Producer

from sensory import endpoints, stack_secrets
from sensory.io.kafka_admin import ensure_topics
from sensory.io.kafka_write import producer_config
from sensory.io.snowflake_conn import SnowflakeSettings, connect as snowflake_connect
from sensory.io.weaviate import WeaviateSettings, connect as weaviate_connect
from sensory.io.weaviate_schema import object_uuid
from sensory.samples import sample_lines
from sensory.topics import TOPICS, TopicSpec

PARTITIONS = 6



def _flink_rest() -> str:
    return f"http://127.0.0.1:{os.environ.get('SENSORY_FLINK_REST_PORT', '8081')}"


def _flink_jobs() -> set[str]:
    """Ids of the running jobs of the local Flink cluster."""
    jobs = requests.get(f"{_flink_rest()}/jobs", timeout=10).json()["jobs"]
    return {job["id"] for job in jobs if job["status"] == "RUNNING"}


def pipeline_env() -> dict[str, str]:
    """The environment of a pipeline run: it runs outside the checkout (so a baseline's
    interpreter imports its own code), so it is told where the stack's secrets are."""
    return {**os.environ, "SENSORY_LOCAL_DIR": str(stack_secrets.local_dir())}

def valid_posts(salt: str):
    """Endless valid sample posts with ids ``lat-<salt>-<n>``."""
    index = 0
    for seed in range(1, 1_000_000):
        for line in sample_lines("social", 2000, seed=seed):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict) or not {"posted_at", "content"} <= set(record) or \
                    not isinstance(record.get("engagement_count"), int):
                continue
            record["post_id"] = f"lat-{salt}-{index}"
            index += 1
            yield record


class Watcher:
    """Polls both sinks for outstanding post ids and records when each first appeared."""

    def __init__(self, salt: str, sinks: list[str], poll_s: float):
        self._salt, self._sinks, self._poll_s = salt, sinks, poll_s
        self.produced: dict[str, float] = {}
        self.seen: dict[str, dict[str, float]] = {sink: {} for sink in sinks}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join()

    def note(self, post_id: str, when: float):
        with self._lock:
            self.produced[post_id] = when

    def outstanding(self, sink: str) -> list[str]:
        with self._lock:
            return [p for p in self.produced if p not in self.seen[sink]]

    def _run(self):
        # pylint: disable=import-outside-toplevel
        from weaviate.classes.query import Filter
        conn = snowflake_connect(SnowflakeSettings.from_env()) if "snowflake" in self._sinks \
            else None
        client = weaviate_connect(WeaviateSettings.from_env()) if "weaviate" in self._sinks \
            else None
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                if conn is not None:
                    pending = self.outstanding("snowflake")
                    if pending:
                        rows = conn.cursor().execute(
                            "SELECT POST_ID FROM SOCIAL_POSTS WHERE POST_ID LIKE %s",
                            (f"lat-{self._salt}-%",)).fetchall()
                        now = time.monotonic()
                        for (post_id,) in rows:
                            self.seen["snowflake"].setdefault(post_id, now)
                if client is not None and client.collections.exists("SocialPost"):
                    pending = self.outstanding("weaviate")
                    by_uuid = {str(object_uuid({"post_id": p})): p for p in pending}
                    collection = client.collections.get("SocialPost")
                    ids = list(by_uuid)
                    for i in range(0, len(ids), 500):
                        found = collection.query.fetch_objects(
                            filters=Filter.by_id().contains_any(ids[i:i + 500]),
                            limit=500, return_properties=[])
                        now = time.monotonic()
                        for obj in found.objects:
                            self.seen["weaviate"].setdefault(by_uuid[str(obj.uuid)], now)
                self._stop.wait(max(0.0, self._poll_s - (time.monotonic() - started)))
        finally:
            if conn is not None:
                conn.close()
            if client is not None:
                client.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def cleanup(salt: str) -> None:
    # pylint: disable=import-outside-toplevel
    from weaviate.classes.query import Filter
    try:
        conn = snowflake_connect(SnowflakeSettings.from_env())
        conn.cursor().execute("DELETE FROM SOCIAL_POSTS WHERE POST_ID LIKE %s",
                              (f"lat-{salt}-%",))
        conn.close()
        with weaviate_connect(WeaviateSettings.from_env()) as client:
            if client.collections.exists("SocialPost"):
                collection = client.collections.get("SocialPost")
                # One delete_many removes at most 10,000 objects (QUERY_MAXIMUM_RESULTS).
                while collection.data.delete_many(
                        where=Filter.by_property("post_id").like(f"lat-{salt}-*")).successful:
                    pass
    except Exception as err:  # pylint: disable=broad-except
        print(f"cleanup: {type(err).__name__}: {err}")
    try:
        # Left behind, topics and groups pile up and the lag exporter asks about every group.
        from confluent_kafka.admin import AdminClient
        admin = AdminClient({"bootstrap.servers": endpoints.kafka_bootstrap()})
        futures = {**admin.delete_consumer_groups([f"latency-{salt}"], request_timeout=60),
                   **admin.delete_topics([f"bench-latency-{salt}"], operation_timeout=60)}
        for future in futures.values():
            future.result()
    except Exception as err:  # pylint: disable=broad-except
        print(f"cleanup kafka: {type(err).__name__}: {err}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help="messages per second")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of producing")
    parser.add_argument("--drain_s", type=float, default=90.0,
                        help="how long to wait for stragglers after the last message")
    parser.add_argument("--poll_s", type=float, default=0.25)
    parser.add_argument("--sinks", default="snowflake,weaviate")
    parser.add_argument("--pipeline_args", default="",
                        help="extra pipeline options, e.g. the flush settings")
    parser.add_argument("--startup_timeout_s", type=float, default=300.0)
    args = parser.parse_args()
    sinks = [s for s in args.sinks.split(",") if s]
    bootstrap = endpoints.kafka_bootstrap()
    salt = uuid.uuid4().hex[:8]
    topic = f"bench-latency-{salt}"
    ensure_topics(bootstrap, {**TOPICS, topic: TopicSpec(PARTITIONS, 1)})
    # A key file, not only the environment: on Flink the records are shielded by the stack's
    # worker pool, which does not inherit this process's environment.
    key_path = f"/tmp/sensory-latency-{salt}.key"
    with open(os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w",
              encoding="ascii") as handle:
        handle.write(os.environ.get("SENSORY_PII_KEY") or secrets.token_hex(32))
    argv = [sys.executable, "-m", "sensory.pipelines.social", f"--topics={topic}",
            f"--consumer_group=latency-{salt}", f"--sinks={args.sinks}",
            f"--pii_key_file={key_path}", *args.pipeline_args.split()]
    on_flink = "--runner=FlinkRunner" in argv
    flink_jobs_before = _flink_jobs() if on_flink else set()
    log_path = f"/tmp/sensory-latency-{salt}.log"
    print(f"pipeline: {' '.join(argv[1:])}  (log {log_path})")
    with open(log_path, "w", encoding="utf-8") as log:
        pipeline = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd="/tmp",
                                    env=pipeline_env())
    producer = Producer(producer_config(bootstrap, **{"linger.ms": 0}))
    watcher = Watcher(salt, sinks, args.poll_s)
    watcher.start()
    posts = valid_posts(salt)
    try:
        # Warm-up: one message, until every sink shows it (start-up excluded from latency).
        started = time.monotonic()
        warm = next(posts)
        producer.produce(topic, value=json.dumps(warm).encode())
        producer.flush(10)
        watcher.note(warm["post_id"], time.monotonic())
        while any(warm["post_id"] not in watcher.seen[s] for s in sinks):
            if pipeline.poll() is not None:
                raise RuntimeError(f"pipeline exited ({pipeline.returncode}); see {log_path}")
            if time.monotonic() - started > args.startup_timeout_s:
                raise RuntimeError("warm-up message never became visible")
            time.sleep(0.2)
        print(f"start-up to first visible record: {time.monotonic() - started:.1f} s")
        with watcher._lock:  # pylint: disable=protected-access
            watcher.produced.clear()
        rng = random.Random(3)
        interval, next_at = 1.0 / args.rate, time.monotonic()
        end = next_at + args.duration
        print(f"load at start: {uptime()}", flush=True)
        while next_at < end:
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            post = next(posts)
            producer.produce(topic, value=json.dumps(post).encode(),
                             partition=rng.randrange(PARTITIONS))
            watcher.note(post["post_id"], time.monotonic())
            producer.poll(0)
            next_at += interval
        producer.flush(30)
        print(f"load at end of producing: {uptime()}", flush=True)
        deadline = time.monotonic() + args.drain_s
        while time.monotonic() < deadline and any(watcher.outstanding(s) for s in sinks):
            time.sleep(0.5)
    finally:
        watcher.stop()
        pipeline.terminate()
        try:
            pipeline.wait(30)
        except subprocess.TimeoutExpired:
            pipeline.kill()
        if on_flink:  # the job outlives its client: cancel what this run submitted
            for job in _flink_jobs() - flink_jobs_before:
                requests.patch(f"{_flink_rest()}/jobs/{job}?mode=cancel", timeout=10)
        os.unlink(key_path)
    produced = watcher.produced
    print(f"rate {args.rate} msg/s for {args.duration} s: {len(produced)} messages")
    for sink in sinks:
        latencies = [watcher.seen[sink][p] - t for p, t in produced.items()
                     if p in watcher.seen[sink]]
        missing = len(produced) - len(latencies)
        if latencies:
            print(f"{sink:10s} produce-to-visible p50 {percentile(latencies, 0.5):6.2f} s  "
                  f"p95 {percentile(latencies, 0.95):6.2f} s  "
                  f"p99 {percentile(latencies, 0.99):6.2f} s  max {max(latencies):6.2f} s  "
                  f"(never seen: {missing}; poll every {args.poll_s} s)")
        else:
            print(f"{sink:10s} nothing became visible")
    if "snowflake" in sinks:
        print(f"weather_status of the rows: {weather_statuses(salt)}")
    cleanup(salt)


def weather_statuses(salt: str) -> dict[str, int]:
    """How the run's Snowflake rows got their weather (shows the weather join ran)."""
    conn = snowflake_connect(SnowflakeSettings.from_env())
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT CONTEXT:weather_status::VARCHAR, COUNT(*) FROM SOCIAL_POSTS "
                       "WHERE POST_ID LIKE %s GROUP BY 1 ORDER BY 1", (f"lat-{salt}-%",))
        return {str(status): count for status, count in cursor.fetchall()}
    finally:
        conn.close()


if __name__ == "__main__":
    main()

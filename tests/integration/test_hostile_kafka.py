"""The hostile-input suite in Kafka mode: the same messages through the stack's real broker.

The broker's default limit is about 1 MB a message, so the oversized case here is 200 KB with
``--max_message_bytes=65536``; file mode (tests/test_hostile.py) covers the 10 MB string.
"""
import glob
import json
import os
import subprocess
import sys
import uuid

import pytest

from hostile_corpus import fixed_messages, mutated_messages
from kafka_produce import produce
from sensory.io.kafka_admin import ensure_topics
from sensory.topics import TopicSpec
from test_hostile import SLOW, standalone_pii

pytestmark = pytest.mark.integration
MUTATIONS = 10_000 if SLOW else 200


@pytest.mark.parametrize("kind", ["social", "market"])
def test_kafka_mode_accounts_for_every_hostile_message(kafka_bootstrap, tmp_path, kind):
    fixed = fixed_messages(kind, big_bytes=200_000)
    values = [value for _, value, _ in fixed] + mutated_messages(kind, MUTATIONS)
    topic = f"it-hostile-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_bootstrap, {topic: TopicSpec(3, 1)})
    produce(kafka_bootstrap, topic, values)
    out = tmp_path / kind
    env = {**os.environ, "SENSORY_PII_KEY": "kafka-hostile-key-0123456789abcdef"}
    result = subprocess.run(
        [sys.executable, "-m", "sensory.cli.main", "-v", "run", kind,
         f"--bootstrap_servers={kafka_bootstrap}", f"--topics={topic}",
         f"--consumer_group=g-{topic}", "--read_until_end", f"--output_dir={out}",
         "--max_message_bytes=65536", "--no_weather", "--no_embeddings"],
        capture_output=True, env=env, timeout=900, check=False)
    logs = (result.stdout + result.stderr).decode("utf-8", "replace")
    assert result.returncode == 0, logs[-3000:]
    records = [json.loads(line) for f in glob.glob(str(out / "records-*.jsonl"))
               for line in open(f, encoding="utf-8")]
    dead = [json.loads(line) for f in glob.glob(str(out / "dead_letters-*.jsonl"))
            for line in open(f, encoding="utf-8")]
    coordinates = [(d["metadata"]["partition"], d["metadata"]["offset"]) for d in dead]
    assert len(coordinates) == len(set(coordinates))
    assert len(records) + len(dead) == len(values), (len(records), len(dead), len(values))
    ids = [r.get("post_id") or r.get("order_id") for r in records]
    assert {"h-0", "h-13", "h-14"} <= set(ids)
    too_large = [d for d in dead if d["error"]["type"] == "MessageTooLarge"]
    # The 200 KB string and the 10,000-level object (about 300 KB) are both over the limit.
    assert len(too_large) == 2
    assert all(set(d["original_data"]) == {"size_bytes", "sha256"} for d in too_large)
    written = "".join(open(f, encoding="utf-8").read() for f in glob.glob(str(out / "*")))
    assert not standalone_pii(written) and not standalone_pii(logs)

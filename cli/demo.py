"""``sensory demo``: the main job on the local stack, with embedded defaults.

Brings the stack up (installing it on first use), produces sample posts and orders to the
source topics, runs both pipelines over them (bounded: up to the end offsets seen at start),
then prints the row and object counts and one semantic search.
"""
import json
import os
import secrets
import time
from pathlib import Path

import click

from sensory.io.kafka_admin import ensure_topics
from sensory.io.snowflake import init_schema, table_counts
from sensory.io.snowflake_conn import SnowflakeSettings
from sensory.io.weaviate import WeaviateSettings, object_counts
from sensory.pipelines import market, social
from sensory.stack import config, manager
from sensory.topics import TOPICS

DEMO_QUERY = "cheap smartphones"


def _demo_key(directory: Path) -> Path:
    # A random per-checkout key kept under .local/ (git-ignored): never a constant in code.
    key_file = directory / "pii.key"
    if not key_file.exists():
        directory.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32) + "\n")
        os.chmod(key_file, 0o600)
    return key_file


def _step(message: str) -> None:
    click.echo(f"[{time.strftime('%H:%M:%S')}] {message}")


@click.command(name="demo")
@click.option("--records", default=400, show_default=True, help="Sample lines per pipeline.")
def demo(records: int) -> None:
    """Run the main job on the local stack: Kafka in, Snowflake and Weaviate out."""
    from sensory.cli.kafka import produce  # pylint: disable=import-outside-toplevel
    from sensory.cli.sinks import semantic_search  # pylint: disable=import-outside-toplevel
    _step("bringing the local stack up (the first run installs it: several minutes)")
    manager.up(progress=lambda line: _step(f"  {line}"))
    bootstrap = f"{config.HOST}:{config.KAFKA_PORT}"
    ensure_topics(bootstrap, TOPICS)
    init_schema(SnowflakeSettings.from_env())
    key_file = os.environ.get("SENSORY_PII_KEY_FILE") or str(_demo_key(config.local_dir() / "demo"))
    _step(f"producing {records} sample posts and {records} sample orders")
    produce.callback(bootstrap_servers=bootstrap, count=records, seed=7)
    for kind, run in (("social", social.run), ("market", market.run)):
        _step(f"running the {kind} pipeline (Kafka → Snowflake + Weaviate)")
        code = run([f"--bootstrap_servers={bootstrap}", "--read_until_end",
                    f"--consumer_group=sensory-demo-{kind}", f"--pii_key_file={key_file}",
                    f"--metrics_snapshot={config.local_dir() / 'metrics' / f'demo-{kind}.prom'}"])
        if code:
            raise SystemExit(code)
    counts = {"snowflake": table_counts(SnowflakeSettings.from_env()),
              "weaviate": object_counts(WeaviateSettings.from_env())}
    click.echo(f"counts: {json.dumps(counts)}")
    click.echo(f'search "{DEMO_QUERY}":')
    for hit in semantic_search(DEMO_QUERY, collection="SocialPost", k=5):
        props = hit["properties"]
        click.echo(f"  {hit['distance']:.3f}  [{props.get('product_category')}]  "
                   f"{(props.get('content') or '')[:80]}")

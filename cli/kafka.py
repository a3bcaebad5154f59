"""``sensory topics create|describe`` and ``sensory samples produce``."""
import json

import click

from sensory import endpoints

from sensory.io.kafka_admin import describe_topics, ensure_topics
from sensory.io.kafka_write import producer_config
from sensory.samples import sample_lines
from sensory.topics import MARKET_SOURCE_TOPICS, SOCIAL_SOURCE_TOPICS, TOPICS

BOOTSTRAP = click.option("--bootstrap_servers", default=endpoints.kafka_bootstrap,
                         show_default="127.0.0.1:$SENSORY_KAFKA_PORT",
                         help="Kafka bootstrap servers.")


@click.group(name="topics")
def topics() -> None:
    """Kafka topics of the record contract."""


@topics.command()
@BOOTSTRAP
def create(bootstrap_servers: str) -> None:
    """Create the contract's topics that do not exist yet (partitions, retention)."""
    created = ensure_topics(bootstrap_servers, TOPICS)
    click.echo(f"created {len(created)} topic(s): {', '.join(created) or '-'}")


@topics.command()
@BOOTSTRAP
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def describe(bootstrap_servers: str, as_json: bool) -> None:
    """Partitions of every topic, with the contract's expectation."""
    partitions = describe_topics(bootstrap_servers)
    rows = {name: {"partitions": partitions.get(name),
                   "expected": TOPICS[name].partitions if name in TOPICS else None}
            for name in sorted(set(partitions) | set(TOPICS))}
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for name, row in rows.items():
        mark = "" if row["partitions"] == row["expected"] or row["expected"] is None else "  <-"
        click.echo(f"{name:36s} {row['partitions'] or 'missing':>8}  "
                   f"(contract: {row['expected'] or '-'}){mark}")


def _source_topic(kind: str, line: str) -> str:
    topics_of_kind = SOCIAL_SOURCE_TOPICS if kind == "social" else MARKET_SOURCE_TOPICS
    try:
        platform = json.loads(line).get("platform")
    except (ValueError, AttributeError):
        platform = None
    prefix = "source.social." if kind == "social" else "source.market."
    return f"{prefix}{platform}" if f"{prefix}{platform}" in topics_of_kind else topics_of_kind[0]


@click.group(name="samples")
def samples() -> None:
    """Sample posts and orders (synthetic, some deliberately broken)."""


@samples.command()
@BOOTSTRAP
@click.option("--count", default=400, show_default=True, help="Lines per kind.")
@click.option("--seed", default=7, show_default=True, help="Random seed.")
def produce(bootstrap_servers: str, count: int, seed: int) -> None:
    """Produce sample posts and orders to their source topics (by platform)."""
    from confluent_kafka import Producer  # pylint: disable=import-outside-toplevel
    ensure_topics(bootstrap_servers, TOPICS)
    producer = Producer(producer_config(bootstrap_servers))
    for kind in ("social", "market"):
        for line in sample_lines(kind, count, seed=seed):
            producer.produce(_source_topic(kind, line), value=line.encode("utf-8"))
            producer.poll(0)
    left = producer.flush(60)
    if left:
        raise click.ClickException(f"{left} messages were not acknowledged by Kafka")
    click.echo(f"produced {count} social and {count} market lines to {bootstrap_servers}")

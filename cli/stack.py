"""``sensory stack up | down | status | logs``: the local stack of real services."""
import json
import sys
import time
from collections import deque

import click

from sensory.stack import manager
from sensory.stack.process import StackError


def _echo_step(line: str) -> None:
    click.echo(f"[{time.strftime('%H:%M:%S')}] {line}", err=True)


@click.group(name="stack")
def stack() -> None:
    """Install, start and inspect Kafka, Redis, Weaviate and the Snowflake emulator."""


@stack.command()
@click.argument("services", nargs=-1, type=click.Choice(manager.ALL_SERVICE_NAMES))
@click.option("--flink", "with_flink", is_flag=True,
              help="Also the Flink session cluster (JobManager, TaskManager, Beam worker pool, "
                   "Java expansion service); see docs/flink.md.")
def up(services: tuple[str, ...], with_flink: bool) -> None:
    """Install what is missing, start what is down, wait until healthy (idempotent)."""
    began = time.monotonic()
    if with_flink:
        services = (*(services or manager.SERVICE_NAMES), "flink")
    try:
        manager.up(services or None, progress=_echo_step)
    except StackError as err:
        raise click.ClickException(str(err)) from err
    statuses = manager.status(services or None)
    click.echo(manager.format_table(statuses))
    click.echo(f"stack up in {time.monotonic() - began:.1f} s", err=True)
    if not all(entry.healthy for entry in statuses.values()):
        sys.exit(1)


@stack.command()
@click.argument("services", nargs=-1, type=click.Choice(manager.ALL_SERVICE_NAMES))
def down(services: tuple[str, ...]) -> None:
    """Stop the processes the stack started (data stays under .local/)."""
    stopped = manager.down(services or None, progress=_echo_step)
    if not stopped:
        click.echo("nothing of ours was running", err=True)


@stack.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object keyed by service.")
def status(as_json: bool) -> None:
    """Show each service's address, version, pid and health; exit 1 if any is down."""
    statuses = manager.status()
    if as_json:
        click.echo(json.dumps(manager.status_dict(statuses), indent=2))
    else:
        click.echo(manager.format_table(statuses))
    if not all(entry.healthy for entry in statuses.values()):
        sys.exit(1)


@stack.command()
@click.argument("service", type=click.Choice(manager.ALL_SERVICE_NAMES))
@click.option("-n", "--lines", default=50, show_default=True, help="How many lines.")
def logs(service: str, lines: int) -> None:
    """Print the last lines of SERVICE's log."""
    (target,) = manager.services([service])
    if not target.log_file.exists():
        raise click.ClickException(f"no log yet at {target.log_file}")
    with open(target.log_file, encoding="utf-8", errors="replace") as handle:
        click.echo("".join(deque(handle, maxlen=lines)), nl=False)


@stack.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def counts(as_json: bool) -> None:
    """Rows per Snowflake table and objects per Weaviate collection."""
    from sensory.io.snowflake import table_counts  # pylint: disable=import-outside-toplevel
    from sensory.io.snowflake_conn import SnowflakeSettings  # pylint: disable=import-outside-toplevel
    from sensory.io.weaviate import WeaviateSettings, object_counts  # pylint: disable=import-outside-toplevel
    result = {"snowflake": table_counts(SnowflakeSettings.from_env()),
              "weaviate": object_counts(WeaviateSettings.from_env())}
    if as_json:
        click.echo(json.dumps(result))
        return
    for system, numbers in result.items():
        for name, count in numbers.items():
            click.echo(f"{system:10s} {name:16s} {count:8d}")

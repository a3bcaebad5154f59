"""The ``sensory`` console script.

Sub-commands are click groups defined next to this module; this is the only module that imports
every layer.
"""
import logging
import sys
import warnings

import click

# Beam's BigQuery client module calls logging.warning() at import time when google-apitools is
# absent (we do not use BigQuery); that call would install a stderr handler on the root logger
# and print a stray line before every command. A NullHandler keeps it quiet until main() sets
# up logging.
_QUIET_IMPORTS = logging.NullHandler()
logging.getLogger().addHandler(_QUIET_IMPORTS)

from sensory.pipelines import market, social  # noqa: E402  pylint: disable=wrong-import-position

_PIPELINES = {"social": social.run, "market": market.run}

# weaviate-client's authlib import warns about its own httpx dependency on every start.
warnings.filterwarnings("ignore", message="The httpx module is deprecated")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Sensory: MillionX ingestion pipelines and their local stack."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.getLogger().removeHandler(_QUIET_IMPORTS)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("pipeline", type=click.Choice(sorted(_PIPELINES)))
@click.argument("pipeline_args", nargs=-1, type=click.UNPROCESSED)
def run(pipeline: str, pipeline_args: tuple[str, ...]) -> None:
    """Run PIPELINE (social or market) with Beam pipeline options.

    Example: sensory run social --input_file=posts.jsonl --output_dir=out/
    """
    sys.exit(_PIPELINES[pipeline](list(pipeline_args)))


def _register_optional_groups() -> None:
    # Groups owned by later features register themselves here once they exist.
    for module_name, group_name in (("sensory.cli.demo", "demo"),
                                    ("sensory.cli.submit", "submit"),
                                    ("sensory.cli.stack", "stack"),
                                    ("sensory.cli.kafka", "topics"),
                                    ("sensory.cli.kafka", "samples"),
                                    ("sensory.cli.sinks", "snowflake"),
                                    ("sensory.cli.sinks", "weaviate"),
                                    ("sensory.cli.sinks", "search"),
                                    ("sensory.cli.dlq", "dlq"),
                                    ("sensory.cli.weather", "weather"),
                                    ("sensory.cli.scrape", "scrape"),
                                    ("sensory.cli.report", "report")):
        try:
            module = __import__(module_name, fromlist=[group_name])
        except ModuleNotFoundError as err:
            if err.name != module_name:
                raise
            continue
        main.add_command(getattr(module, group_name))


_register_optional_groups()

if __name__ == "__main__":
    main()  # pylint: disable=no-value-for-parameter

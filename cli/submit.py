"""``sensory submit``: run a pipeline with options from a runner config plus overrides.

A runner config (``runner_configs/*.yaml``) is a flat mapping of Beam/Sensory option names to
values. ``${VAR}`` and ``${VAR:-default}`` in values are expanded from the environment so one
file serves every machine. Command-line options given after the pipeline name win over the file.
"""
import logging
import os
import re
import shlex
import sys
from typing import Any, Mapping, Sequence

import click
import yaml

from sensory.pipelines import market, social

_LOGGER = logging.getLogger(__name__)
_PIPELINES = {"social": social.run, "market": market.run}
_ENV_RE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


class ConfigError(click.ClickException):
    """A runner config that cannot be used; the message names the file and key."""

    exit_code = 2  # like every other configuration error of a run


def _expand(value: str, where: str) -> str:
    def replace(match: re.Match) -> str:
        name, default = match.group("name"), match.group("default")
        if name in os.environ:
            return os.environ[name]
        if default is None:
            raise ConfigError(f"{where}: environment variable {name} is not set and has no "
                              "default (write ${" + name + ":-value})")
        return default
    return _ENV_RE.sub(replace, value)


def load_runner_config(path: str) -> dict[str, Any]:
    """Reads a runner config and expands environment references.

    Args:
        path: YAML file with a flat mapping of option name to scalar value.

    Returns:
        The options, values expanded.

    Raises:
        ConfigError: Unreadable file, not a mapping, nested values, or an unset variable.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except OSError as err:
        raise ConfigError(f"cannot read runner config {path}: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of option names to values")
    config = {}
    for key, value in data.items():
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{path}: option {key!r} must be a single value")
        config[str(key)] = _expand(value, f"{path}: {key}") if isinstance(value, str) else value
    return config


def to_flags(config: Mapping[str, Any]) -> list[str]:
    """Turns options into Beam-style flags: ``--name=value``; ``true`` → ``--name``; ``false``
    and ``null`` are left out (Beam's boolean options are presence flags)."""
    flags = []
    for key, value in config.items():
        if value is True:
            flags.append(f"--{key}")
        elif value is not False and value is not None:
            flags.append(f"--{key}={value}")
    return flags


def merged_argv(config_path: str, overrides: Sequence[str]) -> list[str]:
    """The argv a submit runs with: the config's flags, then the overrides (last one wins)."""
    return to_flags(load_runner_config(config_path)) + list(overrides)


@click.command(name="submit", context_settings={"ignore_unknown_options": True,
                                                "allow_extra_args": True})
@click.argument("pipeline", type=click.Choice(sorted(_PIPELINES)))
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="Runner config YAML, e.g. runner_configs/flink_cluster.yaml.")
@click.option("--dry-run", is_flag=True, help="Print the merged options and exit.")
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
def submit(pipeline: str, config_path: str, dry_run: bool, overrides: tuple[str, ...]) -> None:
    """Submit PIPELINE with the options of --config, overridden by any --option=value."""
    argv = merged_argv(config_path, overrides)
    if dry_run:
        click.echo(shlex.join(argv))
        return
    _LOGGER.info("submitting %s with %s", pipeline, shlex.join(argv))
    sys.exit(_PIPELINES[pipeline](argv))

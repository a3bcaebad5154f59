"""The local stack of real services — Kafka, Redis, Weaviate, the Snowflake emulator.

Everything is installed from package registries into ``.local/`` and started as plain
processes (no Docker): see ``docs/stack.md`` and ``sensory stack --help``.
"""

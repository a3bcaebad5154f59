"""Sensory: the data-ingestion layer of the MillionX commerce-insights platform.

The ``sensory`` import package holds the shared core (record models, dead-letter envelope,
topics, settings). ``setup.py`` maps the other top-level folders into it: ``sensory.transforms``,
``sensory.io``, ``sensory.pipelines``, ``sensory.scrapers``, ``sensory.stack`` and ``sensory.cli``.
"""

__version__ = "0.1.0"

"""Runnable pipelines: ``python -m sensory.pipelines.social`` and ``sensory.pipelines.market``."""

"""Composite Beam transforms: validation, the privacy shield, context enrichment.

Each transform is a typed ``beam.PTransform`` whose per-record failures come back as dead
letters: ``good, dead_letters = pcoll | SomeTransform(...)``.
"""

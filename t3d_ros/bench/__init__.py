"""Benchmarks, one module each, run from a checkout; results go to ``benchmarks/results/``:

- ``python -m t3d_ros bench`` (``cli.py``): every stage of the node's callback beside its baselines;
- ``python -m t3d_ros.bench.segmentation``, ``.ops``, ``.sim``: candidates side by side;
- ``python -m t3d_ros.bench.overload``, ``.endurance``: the installed nodes over DDS for minutes.

``data.py`` (frames), ``baselines.py`` and ``timing.py`` are shared by them. The node never imports
this package.
"""

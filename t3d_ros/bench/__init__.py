"""``python -m t3d_ros bench`` and the pieces the benchmark scripts in ``benchmarks/`` share (frames,
baselines, timing). Offline only: the node never imports it."""

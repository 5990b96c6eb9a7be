"""The offline companion: simulated LiDAR (``sim``), training data (``data``), training, distillation
and export (``train``), evaluation and pictures (``eval``, ``viz``).

The node never imports this package: a robot needs none of its dependencies (torch, matplotlib,
mcap). Install them with ``pip install -r requirements-offline.txt`` (or the ``offline`` extra).
"""

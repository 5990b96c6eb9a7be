"""Labelling clusters: ``inputs`` (cluster -> network inputs), ``ops/`` (FPS and ball query, reference
+ numba CPU + CUDA), ``models/`` (the torch networks; imported only by the torch backend and the
offline side) and ``classifier`` (runs a model bundle with ONNX Runtime or torch)."""

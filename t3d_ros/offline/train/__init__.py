"""Training: augmentation, one training loop (teachers, tiny, NetAug, distillation), checkpoints,
bundles and ONNX export. Never imported by the node, so a robot needs none of its dependencies."""

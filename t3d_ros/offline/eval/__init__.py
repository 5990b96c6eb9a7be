"""Evaluation: classifier accuracy, segmentation quality against ground truth, detections against KITTI labels."""

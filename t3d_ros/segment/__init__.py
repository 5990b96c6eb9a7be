"""The segmentation stages, one file each, run in this order by ``pipeline.py``: ``preprocess``
(ROI crop, voxel) -> ``ground`` -> ``cluster`` -> ``boxes``. Settings: ``config.PipelineConfig``."""

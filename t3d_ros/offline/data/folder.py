"""A user folder of labelled clusters: ``<root>/<class>/*.{npy,bin,pcd,csv}``, one object per file."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from t3d_ros.classify.inputs import NEAR_SENSOR_M, near_sensor
from t3d_ros.offline.data.clusterset import ClusterSet, intensity01

log = logging.getLogger(__name__)
IGNORED_FOLDERS = ("unsorted", "ignore")  # harvest's unlabelled clusters; what a person throws away
OUTLIER_FOLDER = "outlier"  # clusters no class fits (merges, ground remnants, unknown things): open-set negatives


def load_folder(
    root: str | Path,
    class_names: Sequence[str] | None = None,
    min_points: int = 1,
    sensor: str = "unknown",
) -> ClusterSet:
    """Clusters from ``<root>/<class>/*`` (``.npy``, ``.bin``, ``.pcd``, ``.csv``; read by
    :func:`t3d_ros.io.frames.read_points`), one cluster per file, labelled by its sub-folder.

    ``class_names`` None: the sorted sub-folder names; given (e.g. ``CLASSES``): every sub-folder must
    be one of them (else ``ValueError`` naming the unknown and known classes), absent ones simply have
    no clusters. Points are used as stored (sensor frame if the files are); intensities above 1 are
    taken as 0..255 and scaled. Other files (README...) are ignored, and so are the folders
    ``unsorted`` and ``ignore`` (what ``harvest`` writes and what a person discards) and hidden ones;
    files with fewer than ``min_points`` finite points are skipped. ``meta["frame"]`` = file index.
    Files in ``<root>/outlier/`` are clusters no class fits (a merge, a thing of no class): they are
    loaded with ``meta["outlier"]`` set (label 0, for the record only), for outlier exposure.
    """
    from t3d_ros.io.frames import SUFFIXES, read_points

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder (expected <root>/<class>/<files>)")
    dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and p.name not in (*IGNORED_FOLDERS, OUTLIER_FOLDER))
    if (root / OUTLIER_FOLDER).is_dir():
        dirs.append(root / OUTLIER_FOLDER)
    if not dirs:
        raise FileNotFoundError(f"{root}: no class sub-folders (expected <root>/<class>/<files>)")
    if class_names is None:
        names = tuple(d.name for d in dirs if d.name != OUTLIER_FOLDER)
    else:
        names = tuple(class_names)
        unknown = [d.name for d in dirs if d.name not in names and d.name != OUTLIER_FOLDER]
        if unknown:
            raise ValueError(f"{root}: unknown class folder(s) {unknown}; known classes: {', '.join(names)}")
    clusters, labels, outlier, skipped = [], [], [], []
    for d in dirs:
        for path in sorted(d.iterdir()):
            if not path.is_file() or path.suffix.lower() not in SUFFIXES or path.name.startswith("."):
                continue
            pts = read_points(path)
            if len(pts) < min_points:
                skipped.append(str(path))
                continue
            clusters.append(intensity01(pts))
            labels.append(0 if d.name == OUTLIER_FOLDER else names.index(d.name))
            outlier.append(d.name == OUTLIER_FOLDER)
    if not clusters:
        log.warning("%s: no readable cluster files (%s)", root, ", ".join(SUFFIXES))
    cs = ClusterSet.from_list(
        clusters, labels, names, source="folder", sensor=sensor, frame=np.arange(len(clusters)), purity=1.0,
        info={"source": "folder", "root": str(root), "skipped": skipped},
    )
    cs.meta["outlier"] = np.asarray(outlier, bool)
    if len(cs) and (n := int(near_sensor(cs.points, cs.offsets).sum())):
        log.warning("%s: %d of %d clusters lie within %g m of the sensor: object-centred files? The network reads "
                    "each cluster's range and the side the sensor sees it from: store them in the sensor's frame, "
                    "as harvest writes them", root, n, len(cs), NEAR_SENSOR_M)
    return cs

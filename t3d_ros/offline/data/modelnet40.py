"""ModelNet40 (``modelnet40_normal_resampled`` txt or ``modelnet40_ply_hdf5_2048`` HDF5 layout), for
teacher pre-training. Nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from t3d_ros.offline.data.clusterset import ClusterSet

_TXT_LAYOUT = "modelnet40_normal_resampled"
_H5_LAYOUT = "modelnet40_ply_hdf5_2048"


def _unit_sphere(xyz: np.ndarray) -> np.ndarray:
    """Centre on the centroid and scale the farthest point to radius 1 (PointNet++ pc_normalize)."""
    xyz = xyz - xyz.mean(axis=0)
    r = float(np.sqrt((xyz**2).sum(axis=1)).max()) if len(xyz) else 0.0
    return xyz / r if r > 0 else xyz


def _detect_modelnet(root: Path, split: str) -> tuple[str, Path]:
    for base in (root, root / _TXT_LAYOUT, root / _H5_LAYOUT):
        if (base / "modelnet40_shape_names.txt").is_file() and (base / f"modelnet40_{split}.txt").is_file():
            return "txt", base
        if (base / "shape_names.txt").is_file() and sorted(base.glob(f"ply_data_{split}*.h5")):
            return "h5", base
    raise FileNotFoundError(
        f"no ModelNet40 {split!r} split found under {root} (also looked in {_TXT_LAYOUT}/ and {_H5_LAYOUT}/). "
        f"Expected either the {_TXT_LAYOUT} layout: modelnet40_shape_names.txt, modelnet40_{split}.txt and "
        f"<class>/<class>_0001.txt files with 'x,y,z,nx,ny,nz' lines; or the {_H5_LAYOUT} layout: "
        f"shape_names.txt and ply_data_{split}*.h5 (datasets 'data' (B, 2048, 3), 'label' (B, 1)). "
        "Nothing is downloaded."
    )


def load_modelnet40(root: str | Path, split: str = "train", n_points: int | None = 1024) -> ClusterSet:
    """ModelNet40 objects as a ClusterSet (layout autodetected, see the module docstring).

    Every object keeps its first ``n_points`` points (both releases store them in sampled order;
    None keeps all) and is centred on the unit sphere; intensity 0, range 0, sensor "cad",
    ``meta["frame"]`` = object index. ``class_names`` are the 40 ModelNet names.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    layout, base = _detect_modelnet(Path(root), split)
    objects: list[np.ndarray] = []
    labels: list[int] = []
    if layout == "txt":
        names = [s.strip() for s in (base / "modelnet40_shape_names.txt").read_text().splitlines() if s.strip()]
        index = {n: i for i, n in enumerate(names)}
        for shape_id in (base / f"modelnet40_{split}.txt").read_text().split():
            cls = shape_id.rsplit("_", 1)[0]
            if cls not in index:
                raise ValueError(f"{shape_id}: class {cls!r} is not in modelnet40_shape_names.txt")
            path = base / cls / f"{shape_id}.txt"
            xyz = np.loadtxt(path, delimiter=",", usecols=(0, 1, 2), max_rows=n_points, dtype=np.float64, ndmin=2)
            objects.append(xyz)
            labels.append(index[cls])
    else:
        try:
            import h5py
        except ImportError as e:  # offline-only dependency
            raise ImportError(f"{base} holds the {_H5_LAYOUT} layout; reading it needs h5py (pip install h5py)") from e
        names = [s.strip() for s in (base / "shape_names.txt").read_text().splitlines() if s.strip()]
        for path in sorted(base.glob(f"ply_data_{split}*.h5")):
            with h5py.File(path, "r") as f:
                data = np.asarray(f["data"][:, :n_points, :3], dtype=np.float64)
                lab = np.asarray(f["label"][:]).reshape(-1).astype(np.int64)
            if len(lab) != len(data):
                raise ValueError(f"{path}: {len(data)} objects but {len(lab)} labels")
            if len(lab) and (lab.min() < 0 or lab.max() >= len(names)):
                raise ValueError(f"{path}: labels outside [0, {len(names)}) of shape_names.txt")
            objects.extend(data)
            labels.extend(lab.tolist())
    clusters = []
    for xyz in objects:
        pts = np.zeros((len(xyz), 4), np.float32)
        pts[:, :3] = _unit_sphere(xyz)
        clusters.append(pts)
    return ClusterSet.from_list(
        clusters, labels, names, source=f"modelnet40-{split}", sensor="cad",
        frame=np.arange(len(clusters)), purity=1.0, range_m=np.zeros(len(clusters)),
        info={"source": "modelnet40", "layout": layout, "split": split, "root": str(base), "n_points": n_points},
    )



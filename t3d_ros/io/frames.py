"""Read point-cloud files into (N, 4) float32 x, y, z, intensity arrays.

Formats: KITTI ``.bin`` (float32 x, y, z, reflectance), ``.npy`` ((N, 3), (N, >=4) or a structured
array with x, y, z fields), ``.pcd`` (ascii, binary and binary_compressed, read with ``pypcd4``) and
``.csv`` with an x,y,z[,intensity] header. Non-finite rows are dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from t3d_ros.io.cloud import CloudError, points_from_view

SUFFIXES = (".bin", ".npy", ".pcd", ".csv")


def _from_array(arr: np.ndarray, path: Path) -> np.ndarray:
    if arr.dtype.names:
        return points_from_view(arr)
    if arr.ndim != 2 or arr.shape[1] < 3:
        raise CloudError(f"{path}: expected an (N, 3) or (N, >=4) array or x/y/z fields, got shape {arr.shape}")
    out = np.zeros((arr.shape[0], 4), dtype=np.float32)
    out[:, : min(4, arr.shape[1])] = arr[:, :4]
    return out[np.isfinite(out[:, :3]).all(axis=1)]


def read_points(path: str | Path) -> np.ndarray:
    """Load one frame or object as (N, 4) float32 x, y, z, intensity (zeros when absent)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if suffix == ".bin":
        raw = np.fromfile(path, dtype="<f4")
        if raw.size % 4:
            raise CloudError(f"{path}: {raw.size * 4} bytes is not a whole number of 16-byte KITTI points")
        return _from_array(raw.reshape(-1, 4), path)
    if suffix == ".npy":
        return _from_array(np.load(path, allow_pickle=False), path)
    if suffix == ".pcd":
        import pypcd4  # offline-only dependency

        pc = pypcd4.PointCloud.from_path(path)
        return points_from_view(pc.pc_data)
    if suffix == ".csv":
        arr = np.genfromtxt(path, delimiter=",", names=True, dtype=np.float64)
        if arr.dtype.names is None or not {"x", "y", "z"} <= set(arr.dtype.names):
            raise CloudError(f"{path}: a CSV needs a header line naming x, y, z (and optionally intensity)")
        return points_from_view(np.atleast_1d(arr))
    raise CloudError(f"{path}: unknown suffix {suffix!r}; readable: {', '.join(SUFFIXES)}")


def iter_frames(paths: list[Path]) -> Iterator[tuple[str, np.ndarray]]:
    """(name, points (N, 4)) of every frame named by ``paths``: frame files, folders of them (a
    ``velodyne/`` or ``training/velodyne/`` sub-folder is looked into: KITTI layouts), and rosbag2
    MCAP bags (every PointCloud2 message). Raises ``FileNotFoundError`` for a folder with no frames."""
    from t3d_ros.io.bag import is_bag, read_clouds

    for path in map(Path, paths):
        if is_bag(path):
            for cloud in read_clouds(path):
                yield f"{path.stem}_{cloud.topic.strip('/').replace('/', '_')}_{cloud.index:06d}", cloud.points()
        elif path.is_dir():
            for f in frame_files(path):
                yield f"{path.name}_{f.stem}", read_points(f)
        else:
            yield path.stem, read_points(path)


def frame_files(folder: str | Path) -> list[Path]:
    """The frame files of a folder, sorted by name (a ``velodyne/`` or ``training/velodyne/``
    sub-folder is looked into: KITTI layouts). Raises ``FileNotFoundError`` when it holds none."""
    path = Path(folder)
    inner = next((f for f in (path / "training" / "velodyne", path / "velodyne") if f.is_dir()), path)
    files = sorted(p for p in inner.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file())
    if not files:
        raise FileNotFoundError(f"{path}: no frames ({', '.join(SUFFIXES)}) in this folder")
    return files

"""PointCloud2 buffer decoding for the layouts real drivers publish, and its error cases."""

import numpy as np
import pytest

from t3d_ros.io.cloud import (
    AUTOWARE,
    KITTI,
    LAYOUTS,
    LIVOX,
    OUSTER,
    VELODYNE,
    CloudError,
    Field,
    build_cloud,
    cloud_view,
    fields_dtype,
    layout_of,
    points_from_view,
)
from t3d_ros.io.frames import read_points

RNG = np.random.default_rng(0)


def _xyzi(n: int) -> np.ndarray:
    return np.c_[RNG.uniform(-50, 50, (n, 3)), RNG.uniform(0, 255, n)].astype(np.float32)


def _view(arr: np.ndarray, layout, width: int, height: int = 1, row_step: int | None = None, big=False):
    row_step = row_step or width * layout.point_step
    return cloud_view(arr.tobytes() if isinstance(arr, np.ndarray) else arr, layout.fields, layout.point_step,
                      width, height, row_step, big)


@pytest.mark.parametrize("layout", list(LAYOUTS.values()), ids=list(LAYOUTS))
def test_every_layout_round_trips(layout):
    pts = _xyzi(1000)
    if layout is AUTOWARE:  # uint8 intensity
        pts[:, 3] = np.round(pts[:, 3])
    arr = build_cloud(layout, {"x": pts[:, 0], "y": pts[:, 1], "z": pts[:, 2], "intensity": pts[:, 3]})
    assert arr.dtype.itemsize == layout.point_step
    out = points_from_view(_view(arr, layout, 1000))
    np.testing.assert_array_equal(out, pts)
    assert out.flags.c_contiguous and out.dtype == np.float32


def test_layout_sizes_match_drivers():
    assert (VELODYNE.point_step, OUSTER.point_step, LIVOX.point_step, KITTI.point_step) == (22, 48, 26, 16)
    offsets = {f.name: f.offset for f in VELODYNE.fields}
    assert offsets == {"x": 0, "y": 4, "z": 8, "intensity": 12, "ring": 16, "time": 18}
    assert {f.name: f.offset for f in LIVOX.fields}["timestamp"] == 18
    assert {f.name: f.offset for f in OUSTER.fields}["ring"] == 26


def test_view_is_zero_copy():
    arr = build_cloud(KITTI, {"x": np.arange(10, dtype=np.float32)})
    buf = bytearray(arr.tobytes())
    view = cloud_view(buf, KITTI.fields, 16, 10, 1, 160)
    buf[0:4] = np.float32(42.0).tobytes()
    assert view["x"][0, 0] == 42.0


def test_organized_cloud_with_nan_is_filtered():
    h, w = 16, 100
    pts = _xyzi(h * w)
    pts[::3, :3] = np.nan
    pts[1::7, 1] = np.inf
    arr = build_cloud(VELODYNE, {"x": pts[:, 0], "y": pts[:, 1], "z": pts[:, 2], "intensity": pts[:, 3]})
    view = _view(arr, VELODYNE, w, h)
    assert view.shape == (h, w)
    out = points_from_view(view)
    keep = np.isfinite(pts[:, :3]).all(1)
    np.testing.assert_array_equal(out, pts[keep])


def test_big_endian_decodes():
    pts = _xyzi(50)
    arr = build_cloud(OUSTER, {"x": pts[:, 0], "y": pts[:, 1], "z": pts[:, 2], "intensity": pts[:, 3]},
                      is_bigendian=True)
    raw = arr.tobytes()
    assert raw[:4] == np.array([pts[0, 0]], dtype=">f4").tobytes()
    np.testing.assert_array_equal(points_from_view(_view(raw, OUSTER, 50, big=True)), pts)


def test_row_padding_is_skipped():
    h, w, pad = 4, 10, 12
    pts = _xyzi(h * w)
    arr = build_cloud(KITTI, {"x": pts[:, 0], "y": pts[:, 1], "z": pts[:, 2], "intensity": pts[:, 3]})
    rows = arr.tobytes()
    row_step = w * 16 + pad
    data = b"".join(rows[r * w * 16:(r + 1) * w * 16] + b"\xff" * pad for r in range(h))
    np.testing.assert_array_equal(points_from_view(_view(data, KITTI, w, h, row_step)), pts)


def test_missing_intensity_gives_zeros_and_other_names_are_found():
    fields = [Field("x", 0, 7), Field("y", 4, 7), Field("z", 8, 7)]
    data = np.arange(30, dtype=np.float32).tobytes()
    out = points_from_view(cloud_view(data, fields, 12, 10, 1, 120))
    assert out.shape == (10, 4) and (out[:, 3] == 0).all()
    fields.append(Field("reflectance", 12, 2))  # uint8
    data = b"".join(np.float32([i, i, i]).tobytes() + bytes([i]) for i in range(5))
    out = points_from_view(cloud_view(data, fields, 13, 5, 1, 65))
    np.testing.assert_array_equal(out[:, 3], np.arange(5))


@pytest.mark.parametrize(
    "kwargs, cause",
    [
        ({"data": bytes(16 * 9)}, "data_size"),  # truncated
        ({"data": bytes(16 * 11)}, "data_size"),  # longer than the header
        ({"point_step": 12}, "point_step"),  # intensity at 12 runs past a 12-byte point
        ({"point_step": 0}, "point_step"),
        ({"row_step": 100}, "row_step"),
        ({"width": 10_000, "height": 10_000}, "size"),
        ({"fields": [Field("x", 0, 7), Field("intensity", 4, 7)]}, "missing_xyz"),
        ({"fields": [Field("x", 0, 7), Field("y", 4, 7), Field("z", 8, 99)]}, "datatype"),  # unknown datatype
    ],
)
def test_bad_headers_raise_clear_errors(kwargs, cause):
    args = {"data": bytes(160), "fields": list(KITTI.fields), "point_step": 16, "width": 10, "height": 1,
            "row_step": 160}
    args.update(kwargs)
    with pytest.raises(CloudError) as err:
        points_from_view(cloud_view(**args))
    assert err.value.cause == cause
    assert len(str(err.value)) > 20


def test_empty_cloud():
    out = points_from_view(cloud_view(b"", KITTI.fields, 16, 0, 0, 0))
    assert out.shape == (0, 4)
    out = points_from_view(cloud_view(b"", KITTI.fields, 16, 0, 1, 0))
    assert out.shape == (0, 4)


def test_multi_count_fields_and_layout_of():
    dt = np.dtype({"names": ["x", "y", "z", "rgb"], "formats": ["<f4", "<f4", "<f4", ("<u1", (3,))],
                   "offsets": [0, 4, 8, 12], "itemsize": 16})
    arr = np.zeros(3, dtype=dt)
    arr["x"] = [1, 2, 3]
    lay = layout_of(arr)
    assert [f.count for f in lay.fields] == [1, 1, 1, 3]
    assert fields_dtype(lay.fields, 16, False) == dt
    np.testing.assert_array_equal(points_from_view(_view(arr, lay, 3))[:, 0], [1, 2, 3])


def test_read_points_formats(tmp_path):
    import pypcd4

    pts = _xyzi(100)
    pts.tofile(tmp_path / "a.bin")
    np.save(tmp_path / "b.npy", pts[:, :3].astype(np.float64))
    pypcd4.PointCloud.from_xyzi_points(pts).save(tmp_path / "c.pcd", encoding=pypcd4.Encoding.BINARY_COMPRESSED)
    np.savetxt(tmp_path / "d.csv", pts, delimiter=",", header="x,y,z,intensity", comments="")
    np.testing.assert_array_equal(read_points(tmp_path / "a.bin"), pts)
    np.testing.assert_allclose(read_points(tmp_path / "b.npy")[:, :3], pts[:, :3])
    np.testing.assert_array_equal(read_points(tmp_path / "c.pcd"), pts)
    np.testing.assert_allclose(read_points(tmp_path / "d.csv"), pts, rtol=1e-6)
    (tmp_path / "bad.bin").write_bytes(bytes(10))
    with pytest.raises(CloudError, match="16-byte"):
        read_points(tmp_path / "bad.bin")
    (tmp_path / "d.txt").write_text("")
    with pytest.raises(CloudError, match="unknown suffix"):
        read_points(tmp_path / "d.txt")


def test_datatype_table_matches_sensor_msgs_pointfield():
    """The decoder's datatype table, checked once against the message definition itself (the layout
    tests and the struct-reader baseline use the table, so they could not catch an error in it)."""
    from sensor_msgs.msg import PointField

    from t3d_ros.io.cloud import DATATYPE_FORMAT

    expected = {PointField.INT8: "i1", PointField.UINT8: "u1", PointField.INT16: "i2", PointField.UINT16: "u2",
                PointField.INT32: "i4", PointField.UINT32: "u4", PointField.FLOAT32: "f4", PointField.FLOAT64: "f8"}
    assert DATATYPE_FORMAT == expected


def test_decode_kernel_identical_to_the_numpy_path(monkeypatch):
    """``points_from_view``'s numba pass (float32 fields in native byte order) against its numpy path:
    the same rows, bit for bit, for packed (22-byte, unaligned), padded and organized layouts, with
    NaN/Inf rows, without an intensity field, and empty; other field types take the numpy path."""
    from t3d_ros.io import _decode
    from t3d_ros.io.cloud import points_from_view

    if not _decode.HAVE_NUMBA:
        pytest.skip("numba not installed")
    rng = np.random.default_rng(8)

    buffer = np.full((6000, 4), -1.0, np.float32)  # kept between clouds, as the node keeps it

    def both(view):
        fast = points_from_view(view)
        with monkeypatch.context() as m:
            m.setattr(_decode, "HAVE_NUMBA", False)
            ref = points_from_view(view)
        assert fast.dtype == ref.dtype == np.float32 and fast.flags.c_contiguous
        np.testing.assert_array_equal(fast, ref)
        into = points_from_view(view, out=buffer)  # one pass into the caller's buffer: a view of it
        np.testing.assert_array_equal(into, ref)
        assert (np.shares_memory(into, buffer) or len(into) == 0) and into.flags.c_contiguous
        return fast

    for itemsize, names in ((22, ("x", "y", "z", "intensity")), (48, ("x", "y", "z", "intensity")),
                            (16, ("x", "y", "z")), (26, ("x", "y", "z", "intensity"))):
        offsets = [0, 4, 8, 12 if itemsize != 26 else 18][: len(names)]
        dt = np.dtype({"names": list(names), "formats": ["<f4"] * len(names), "offsets": offsets,
                       "itemsize": itemsize})
        a = np.zeros(5000, dt)
        for n in names:
            a[n] = rng.normal(0, 20, len(a))
        a["x"][::17] = np.nan
        a["z"][::29] = np.inf
        out = both(np.frombuffer(a.tobytes(), dt))
        assert len(out) == int(np.sum(np.isfinite(a["x"]) & np.isfinite(a["z"])))
        both(np.frombuffer(a.tobytes(), dt).reshape(50, 100))  # organized
        both(np.frombuffer(a.tobytes(), dt)[:0])  # empty
    # a buffer too small, or not (N, 4) float32, is not written: a fresh array comes back
    a = np.zeros(7000, np.dtype({"names": ["x", "y", "z"], "formats": ["<f4"] * 3}))
    for bad in (buffer, buffer.astype(np.float64), buffer[:, :3], np.asfortranarray(np.zeros((8000, 4), np.float32))):
        before = bad.copy()
        out = points_from_view(a, out=bad)
        assert len(out) == 7000 and not np.shares_memory(out, bad)
        np.testing.assert_array_equal(bad, before)
    # a uint16 intensity takes the numpy path: still float32 rows
    dt = np.dtype({"names": ["x", "y", "z", "intensity"], "formats": ["<f4", "<f4", "<f4", "<u2"],
                   "offsets": [0, 4, 8, 12], "itemsize": 16})
    a = np.zeros(10, dt)
    a["intensity"] = 7
    assert (points_from_view(a)[:, 3] == 7).all()

"""PointCloud2 buffers <-> numpy, without ROS.

A ``sensor_msgs/PointCloud2`` is a byte buffer plus a field list. ``cloud_view`` lays a numpy
structured dtype (names, formats, offsets, itemsize = point_step) over the buffer without copying,
for any driver layout: packed (Velodyne, 22 bytes), padded (Ouster, 48 bytes), unaligned (Livox,
26 bytes), organized (height > 1, NaN for no return), big-endian and padded rows (row_step >
width * point_step). ``points_from_view`` then copies x, y, z (and intensity) column by column into
a contiguous float32 array, which is several times faster than slicing a strided buffer.

Everything that can be wrong with a message raises ``CloudError`` with a message that says what
and how to fix it; the node logs it (rate-limited) and goes on with the next cloud.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from t3d_ros.io import _decode

# sensor_msgs/PointField datatype constants.
INT8, UINT8, INT16, UINT16, INT32, UINT32, FLOAT32, FLOAT64 = range(1, 9)
DATATYPE_FORMAT: dict[int, str] = {
    INT8: "i1",
    UINT8: "u1",
    INT16: "i2",
    UINT16: "u2",
    INT32: "i4",
    UINT32: "u4",
    FLOAT32: "f4",
    FLOAT64: "f8",
}
FORMAT_DATATYPE = {np.dtype(v).str[1:]: k for k, v in DATATYPE_FORMAT.items()}

# Far above any real sensor (an OS2-128 at 2048 columns is 262k points); a width or height
# beyond this is a corrupt header, not a cloud.
MAX_POINTS = 10_000_000
# Real points are 12-100 bytes (a 352-float SHOT descriptor is 1.4 kB); numpy cannot even describe
# a point of 2 GB. A larger point_step is a corrupt header.
MAX_POINT_STEP = 65_536

INTENSITY_NAMES = ("intensity", "reflectance", "reflectivity", "i")


class CloudError(ValueError):
    """A PointCloud2 buffer that cannot be decoded; the message says what is wrong and ``cause``
    names the kind of fault (for counting and rate-limited logging)."""

    def __init__(self, message: str, cause: str = "malformed") -> None:
        super().__init__(message)
        self.cause = cause


@dataclass(frozen=True)
class Field:
    """One ``sensor_msgs/PointField``: byte ``offset`` in a point, ``datatype`` constant, ``count``."""

    name: str
    offset: int
    datatype: int
    count: int = 1


@dataclass(frozen=True)
class Layout:
    """A point layout as a driver publishes it: fields plus the byte size of one point."""

    name: str
    fields: tuple[Field, ...]
    point_step: int

    def dtype(self, is_bigendian: bool = False) -> np.dtype:
        return fields_dtype(self.fields, self.point_step, is_bigendian)


def _f(name: str, offset: int, fmt: str) -> Field:
    return Field(name, offset, FORMAT_DATATYPE[fmt])


# Layouts of real drivers (DESIGN.md §3, checked against the drivers' point types).
VELODYNE = Layout(
    "velodyne",
    (_f("x", 0, "f4"), _f("y", 4, "f4"), _f("z", 8, "f4"), _f("intensity", 12, "f4"),
     _f("ring", 16, "u2"), _f("time", 18, "f4")),
    22,
)
OUSTER = Layout(
    "ouster",
    (_f("x", 0, "f4"), _f("y", 4, "f4"), _f("z", 8, "f4"), _f("intensity", 16, "f4"),
     _f("t", 20, "u4"), _f("reflectivity", 24, "u2"), _f("ring", 26, "u2"),
     _f("ambient", 28, "u2"), _f("range", 32, "u4")),
    48,
)
LIVOX = Layout(
    "livox",
    (_f("x", 0, "f4"), _f("y", 4, "f4"), _f("z", 8, "f4"), _f("intensity", 12, "f4"),
     _f("tag", 16, "u1"), _f("line", 17, "u1"), _f("timestamp", 18, "f8")),
    26,
)
KITTI = Layout(
    "kitti",
    (_f("x", 0, "f4"), _f("y", 4, "f4"), _f("z", 8, "f4"), _f("intensity", 12, "f4")),
    16,
)
AUTOWARE = Layout(
    "autoware",
    (_f("x", 0, "f4"), _f("y", 4, "f4"), _f("z", 8, "f4"), _f("intensity", 12, "u1"),
     _f("return_type", 13, "u1"), _f("channel", 14, "u2")),
    16,
)
LAYOUTS: dict[str, Layout] = {lay.name: lay for lay in (VELODYNE, OUSTER, LIVOX, KITTI, AUTOWARE)}


def fields_dtype(fields: tuple[Field, ...] | list[Field], point_step: int, is_bigendian: bool) -> np.dtype:
    """Structured dtype over one point of ``point_step`` bytes.

    Fields with an unknown datatype or a duplicate name are left out (a missing x, y or z then fails
    later with a clear error); x, y or z with an unknown datatype, and a field that runs past
    ``point_step``, are errors.
    """
    if point_step <= 0 or point_step > MAX_POINT_STEP:
        raise CloudError(f"point_step is {point_step}; it must be the byte size of one point "
                         f"(1..{MAX_POINT_STEP})", "point_step")
    order = ">" if is_bigendian else "<"
    names: list[str] = []
    formats: list = []
    offsets: list[int] = []
    for f in fields:
        fmt = DATATYPE_FORMAT.get(int(f.datatype))
        if fmt is None and f.name in ("x", "y", "z") and f.name not in names:
            raise CloudError(
                f"field {f.name!r} has datatype {f.datatype}, which is no sensor_msgs/PointField type "
                "(1..8: INT8, UINT8, INT16, UINT16, INT32, UINT32, FLOAT32, FLOAT64)",
                "datatype",
            )
        if fmt is None or not f.name or f.name in names:
            continue
        count = max(int(f.count), 1)
        size = np.dtype(fmt).itemsize * count
        if f.offset < 0 or f.offset + size > point_step:
            raise CloudError(
                f"field {f.name!r} (offset {f.offset}, {size} bytes) runs past point_step {point_step}: "
                "the publisher's point_step or field offsets are wrong",
                "point_step",
            )
        names.append(f.name)
        formats.append(order + fmt if count == 1 else (order + fmt, (count,)))
        offsets.append(int(f.offset))
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": point_step})


def cloud_view(
    data,
    fields: tuple[Field, ...] | list[Field],
    point_step: int,
    width: int,
    height: int,
    row_step: int,
    is_bigendian: bool = False,
) -> np.ndarray:
    """Zero-copy structured view (height, width) over a PointCloud2 ``data`` buffer.

    ``data`` is anything with the buffer protocol (``array.array``, ``bytes``, numpy). Raises
    ``CloudError`` when the header and the buffer disagree.
    """
    if width < 0 or height < 0:
        raise CloudError(f"negative size width={width} height={height}", "size")
    if width * height > MAX_POINTS:
        raise CloudError(
            f"width*height = {width}*{height} = {width * height} points exceeds {MAX_POINTS}: corrupt header?",
            "size",
        )
    dtype = fields_dtype(fields, point_step, is_bigendian)
    if width * point_step > row_step:
        raise CloudError(
            f"row_step {row_step} is smaller than width*point_step = {width}*{point_step}: "
            "the publisher must set row_step >= width * point_step",
            "row_step",
        )
    buf = np.frombuffer(data, dtype=np.uint8)
    need = row_step * height
    if buf.size != need:
        what = "truncated" if buf.size < need else "longer than the header says"
        raise CloudError(
            f"data is {what}: {buf.size} bytes, but height*row_step = {height}*{row_step} = {need}",
            "data_size",
        )
    if width * height == 0:
        return np.zeros((height, width), dtype=dtype)
    return np.ndarray(shape=(height, width), dtype=dtype, buffer=buf, strides=(row_step, point_step))


def intensity_name(names: tuple[str, ...] | list[str]) -> str | None:
    """The field that carries return strength, by the names drivers use."""
    for name in INTENSITY_NAMES:
        if name in names:
            return name
    return None


def points_from_view(view: np.ndarray, with_intensity: bool = True, out: np.ndarray | None = None) -> np.ndarray:
    """Contiguous (N, 3) or (N, 4) float32 x, y, z[, intensity] of the finite points of ``view``.

    Rows with a NaN or Inf coordinate (organized clouds mark no-return so) are dropped. A missing
    intensity field gives zeros. Raises ``CloudError`` when x, y or z is missing or not scalar.
    ``out``: an optional (>= view.size, 4) float32 C-order buffer kept by the caller between clouds;
    the numba pass then writes into it and returns a view of its first rows, valid until the buffer is
    written again (the node decodes every cloud so: one pass, and no fresh 2 MB array per scan).
    """
    names = view.dtype.names or ()
    missing = [c for c in "xyz" if c not in names]
    if missing:
        raise CloudError(
            f"cloud has no {'/'.join(missing)} field (fields: {', '.join(names) or 'none'}); "
            "x, y and z are required",
            "missing_xyz",
        )
    for c in "xyz":
        if view.dtype[c].shape != ():
            raise CloudError(
                f"field {c!r} has count {view.dtype[c].shape[0]}; x, y and z must have count 1", "missing_xyz"
            )
    flat = view.reshape(-1)
    inten = intensity_name(names) if with_intensity else None
    fields = ["x", "y", "z"]
    if with_intensity and inten is not None and view.dtype[inten].shape == ():
        fields.append(inten)
    if with_intensity and _decode.HAVE_NUMBA and all(_decode.is_native_float32(view.dtype[f]) for f in fields):
        # the common case (float32 fields in this machine's byte order): one numba pass, same output
        has_i = len(fields) == 4
        x, y, z, inten = flat["x"], flat["y"], flat["z"], flat[fields[3 if has_i else 0]]
        if out is not None and out.dtype == np.float32 and out.ndim == 2 and out.shape[1] == 4 \
                and out.shape[0] >= flat.shape[0] and out.flags.c_contiguous:
            return out[: _decode.finite_rows_into_kernel(x, y, z, inten, has_i, out)]
        return _decode.finite_rows_kernel(x, y, z, inten, has_i)
    # Field by field into contiguous rows first (converts byte order): writing a strided field into
    # a contiguous row, the finite test on rows and compress() are each 5-20x faster than the same
    # on columns of an (N, 4) array or a boolean row mask; only the last copy writes columns.
    rows = np.empty((len(fields), flat.shape[0]), dtype=np.float32)
    for r, name in enumerate(fields):
        rows[r] = flat[name]
    finite = np.isfinite(rows[0]) & np.isfinite(rows[1]) & np.isfinite(rows[2])
    if not finite.all():
        rows = rows.compress(finite, axis=1)
    out = np.empty((rows.shape[1], 4 if with_intensity else 3), dtype=np.float32)
    for c in range(out.shape[1]):
        out[:, c] = rows[c] if c < len(rows) else 0.0  # no intensity field: zeros
    return out


def build_cloud(layout: Layout, columns: dict[str, np.ndarray], is_bigendian: bool = False) -> np.ndarray:
    """A (N,) structured array in ``layout`` filled from ``columns`` (missing fields stay zero).

    Its ``.tobytes()`` is the ``data`` of a PointCloud2 with ``layout.fields`` and
    ``point_step = layout.point_step``.
    """
    dtype = layout.dtype(is_bigendian)
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns have different lengths: {sorted(lengths)}")
    n = lengths.pop() if lengths else 0
    out = np.zeros(n, dtype=dtype)
    for name, values in columns.items():
        if name not in dtype.names:
            raise ValueError(f"layout {layout.name!r} has no field {name!r} (fields: {', '.join(dtype.names)})")
        out[name] = values
    return out


def layout_of(array: np.ndarray, name: str = "custom") -> Layout:
    """The Layout (PointFields) describing a structured array's dtype, for publishing it."""
    fields = []
    for fname in array.dtype.names or ():
        dt, offset = array.dtype.fields[fname][:2]
        base = dt.base if dt.shape else dt
        key = base.str[1:]
        if key not in FORMAT_DATATYPE:
            raise ValueError(f"field {fname!r} has dtype {dt} which PointCloud2 cannot carry")
        fields.append(Field(fname, int(offset), FORMAT_DATATYPE[key], int(np.prod(dt.shape)) if dt.shape else 1))
    return Layout(name, tuple(fields), array.dtype.itemsize)

"""Models of real spinning LiDARs: beam elevations, horizontal resolution, range, noise.

Numbers come from the manufacturers' data sheets (Velodyne VLP-16, HDL-32E, HDL-64E S2 as used in
KITTI, Ouster OS1-128; training uses these four). ``UNSEEN_SENSORS`` (VLP-32C, HDL-32E at 20 Hz as
in nuScenes, OS1-64, OS1-32) are never trained on: ``bench/sensors.py`` tries the model on them.
Ring 0 is always the lowest beam, as in Velodyne's ``ring`` field (the Ouster driver counts from the
top; the ROS adapter flips it when it imitates that layout).

Columns are azimuth samples of one revolution. The sensor spins clockwise seen from above (as
Velodyne and Ouster do); column 0 points backwards (-x) and column ``c`` is fired at
``c / (columns * rate_hz)`` seconds after the scan start, see :func:`column_azimuths`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class SensorModel:
    """A spinning multi-beam LiDAR.

    Attributes:
        name: key in :data:`SENSORS`.
        vertical_angles_deg: elevation of each beam in degrees, ring 0 = lowest, (rings,).
        columns: azimuth samples per revolution.
        min_range, max_range: returns outside [min_range, max_range] metres are dropped.
        range_noise_std: Gaussian range noise (1 sigma) in metres at short range.
        dropout: probability that a return is lost at random (on top of the weak-signal loss).
        rate_hz: default spin rate; sets the per-point ``time``.
        mount_height: height of the optical centre above the ground in metres.
        layout: PointCloud2 layout its driver publishes, ``"velodyne"`` or ``"ouster"``.
        range_10pct: range in metres up to which a 10 % reflective Lambertian target facing the
            sensor is still detected (data-sheet figure); sets the weak-signal dropout.
        intensity_gain: scale of the intensity model (1.3 gives KITTI-like values, median ~0.3 x 255).
        intensity_range, intensity_power: intensity falls as ``1 / (1 + (r / intensity_range) ** power)``;
            KITTI's HDL-64E is flat to ~25 m and mostly 0 beyond 50 m, calibrated sensors fall slowly.
        intensity_offset: subtracted (in 0..1 units) before clipping, so dark or far targets read 0
            as in real data (KITTI: ~8 % zeros within 20 m).
        elevation_jitter_deg: std of the per-beam calibration error of a unit (drawn per scan).
        range_bias_std: std of the per-beam range offset of a unit (m, drawn per scan): intrinsic
            calibration errors that make the rings of a flat wall disagree by a few centimetres, so
            real walls look several centimetres thick.
        mixed_pixels: probability that a beam grazing an object's silhouette returns a range between
            the object and a background less than 2 m behind it (the "veil" behind edges in real data).
        beam_divergence_mrad: full angle of the beam: a part thinner than the beam's footprint (a
            pole, a bar, a wire at range) catches only part of the light and returns weakly.
        laser_heights_m: height of each beam's origin above the frame origin, ring order (empty: all at
            the origin). The HDL-64E's two blocks of lasers sit ~14 and ~20 cm above its base, so seen
            from the frame origin a ring's elevation changes with range and rings interleave.
        spin_tilt_deg: largest tilt of the spin axis against the frame's z (drawn per scan): a ring's
            elevation swings with azimuth by up to this much, as in KITTI (~0.2-0.5 deg).
    """

    name: str
    vertical_angles_deg: tuple[float, ...]
    columns: int
    min_range: float
    max_range: float
    range_noise_std: float
    dropout: float
    rate_hz: float = 10.0
    mount_height: float = 1.73
    layout: str = "velodyne"
    range_10pct: float = 50.0
    intensity_gain: float = 1.3
    intensity_range: float = 38.0
    intensity_power: float = 5.0
    intensity_offset: float = 0.03
    elevation_jitter_deg: float = 0.02
    range_bias_std: float = 0.02
    mixed_pixels: float = 0.2
    beam_divergence_mrad: float = 3.0
    laser_heights_m: tuple[float, ...] = ()
    spin_tilt_deg: float = 0.4

    @property
    def rings(self) -> int:
        """Number of beams."""
        return len(self.vertical_angles_deg)

    @property
    def num_rays(self) -> int:
        """Rays per revolution, ``rings * columns``."""
        return self.rings * self.columns


def column_azimuths(columns: int) -> np.ndarray:
    """Azimuth in radians (atan2(y, x) convention) of every column, (columns,) float64.

    Column 0 points backwards and the azimuth decreases with the column (clockwise spin).
    """
    return np.pi - 2.0 * np.pi * (np.arange(columns, dtype=np.float64) + 0.5) / columns


def azimuth_to_column(azimuth: np.ndarray, columns: int) -> np.ndarray:
    """Continuous (unwrapped, not rounded) column coordinate of azimuths in radians, same shape."""
    return (np.pi - np.asarray(azimuth, dtype=np.float64)) * (columns / (2.0 * np.pi)) - 0.5


def _even_beams(n: int, half_fov_deg: float) -> tuple[float, ...]:
    """``n`` beam elevations evenly spaced over +-``half_fov_deg``, lowest first."""
    return tuple(float(a) for a in np.linspace(-half_fov_deg, half_fov_deg, n))


def _hdl64_angles() -> tuple[float, ...]:
    # HDL-64E S2 (KITTI): upper block 32 lasers +2.0 .. -8.33 deg (1/3 deg), lower block 32 lasers
    # -8.83 .. -24.8 deg (~1/2 deg); 26.8 deg vertical field of view as in the KITTI paper.
    upper = np.linspace(2.0, -8.33, 32)
    lower = np.linspace(-8.83, -24.8, 32)
    return tuple(float(a) for a in np.sort(np.concatenate([upper, lower])))


SENSORS: dict[str, SensorModel] = {
    "vlp16": SensorModel(
        name="vlp16",
        vertical_angles_deg=tuple(float(a) for a in np.arange(-15.0, 15.01, 2.0)),
        columns=1800,  # 0.2 deg at 10 Hz
        min_range=0.5,
        max_range=100.0,
        range_noise_std=0.03,
        dropout=0.02,
        mount_height=0.9,  # typical robot / small vehicle mount
        intensity_range=70.0,
        intensity_power=2.0,
        range_10pct=50.0,
    ),
    "hdl32": SensorModel(
        name="hdl32",
        vertical_angles_deg=tuple(float(a) for a in np.round(np.linspace(-30.67, 10.67, 32), 3)),
        columns=2170,  # ~0.166 deg at 10 Hz
        min_range=1.0,
        max_range=100.0,
        range_noise_std=0.02,
        dropout=0.02,
        mount_height=1.84,  # nuScenes roof mount
        intensity_range=60.0,
        intensity_power=2.5,
        range_10pct=45.0,
    ),
    "hdl64": SensorModel(
        name="hdl64",
        vertical_angles_deg=_hdl64_angles(),
        columns=2083,  # 0.1728 deg at 10 Hz, as in KITTI
        min_range=2.0,  # KITTI crops the roof of its own car
        max_range=120.0,
        range_noise_std=0.02,
        dropout=0.01,
        mount_height=1.73,
        range_10pct=50.0,
        range_bias_std=0.04,  # 64 separately calibrated lasers: KITTI walls are ~5-10 cm thick
        beam_divergence_mrad=2.0,
        # lower block (rings 0-31) and upper block (32-63): ~0.24 m fitted on KITTI's rings (el = el0 + h / r)
        laser_heights_m=tuple(np.r_[np.linspace(0.20, 0.23, 32), np.linspace(0.23, 0.26, 32)].tolist()),
    ),
    "os1-128": SensorModel(
        name="os1-128",
        vertical_angles_deg=_even_beams(128, 22.5),
        columns=1024,
        min_range=0.5,
        max_range=120.0,
        range_noise_std=0.025,
        dropout=0.01,
        mount_height=1.6,
        layout="ouster",
        intensity_range=200.0,
        intensity_power=2.0,
        intensity_offset=0.01,
        range_10pct=45.0,
        elevation_jitter_deg=0.01,
    ),
}


# Sensors the shipped model is *not* trained on (training: ``offline/data/sim.SIM_SENSORS``), for
# ``bench/sensors.py``: how the labels hold on a LiDAR the model has never seen. Data-sheet numbers.
_VLP32C_ANGLES = (  # VLP-32C (Ultra Puck): 40 deg, the beams bunched around the horizon (0.33 deg)
    -25.0, -15.639, -11.31, -8.843, -7.254, -6.148, -5.333, -4.667, -4.0, -3.667, -3.333, -3.0, -2.667,
    -2.333, -2.0, -1.667, -1.333, -1.0, -0.667, -0.333, 0.0, 0.333, 0.667, 1.0, 1.333, 1.667, 2.333, 3.333,
    4.667, 7.0, 10.333, 15.0,
)
UNSEEN_SENSORS: dict[str, SensorModel] = {
    "vlp32c": SensorModel(
        name="vlp32c",
        vertical_angles_deg=_VLP32C_ANGLES,
        columns=1800,  # 0.2 deg at 10 Hz
        min_range=1.0,
        max_range=200.0,
        range_noise_std=0.03,
        dropout=0.02,
        mount_height=1.95,  # on the roof of a van or shuttle
        intensity_range=70.0,
        intensity_power=2.0,
        range_10pct=100.0,
    ),
    # nuScenes' sweeps: the HDL-32E spinning at 20 Hz has half the columns of one at 10 Hz
    "hdl32-20hz": replace(SENSORS["hdl32"], name="hdl32-20hz", columns=1085, rate_hz=20.0),
    # Ouster's 64- and 32-beam units: the OS1-128's field of view, optics and range with fewer beams
    "os1-64": replace(SENSORS["os1-128"], name="os1-64", vertical_angles_deg=_even_beams(64, 22.5),
                      mount_height=1.1),  # a mid-size robot or a low vehicle mount
    "os1-32": replace(SENSORS["os1-128"], name="os1-32", vertical_angles_deg=_even_beams(32, 22.5),  # 1.45 deg
                      mount_height=0.6),  # a small ground robot
}
SENSORS.update(UNSEEN_SENSORS)


def get_sensor(name: str) -> SensorModel:
    """The :class:`SensorModel` called ``name``; raises ``ValueError`` listing the known names."""
    try:
        return SENSORS[name]
    except KeyError:
        raise ValueError(f"unknown sensor {name!r}; known sensors: {', '.join(SENSORS)}") from None

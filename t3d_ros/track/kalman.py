"""A constant-velocity Kalman filter on a box centre in the xy plane.

State ``x`` (4,) = (x, y, vx, vy) in metres and m/s, covariance ``P`` (4, 4); measurement ``z`` (2,)
= (x, y) in metres with covariance ``meas_std**2 * I`` (2, 2). Between measurements the velocity
follows white (piecewise-constant per step) acceleration of standard deviation ``accel_std`` m/s^2 on
each axis. The filter works in whatever frame its measurements are in; it knows nothing of ego motion.
"""

from __future__ import annotations

import numpy as np

_H = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])  # measurement picks (x, y) out of the state


class ConstantVelocityKF:
    """Constant-velocity filter; construct it from the first measured centre (velocity unknown: 0 with
    standard deviation ``init_speed_std`` m/s per axis)."""

    def __init__(self, xy: np.ndarray, accel_std: float = 2.0, meas_std: float = 0.3,
                 init_speed_std: float = 10.0) -> None:
        self.x = np.array([xy[0], xy[1], 0.0, 0.0], dtype=np.float64)
        self.P = np.diag([meas_std**2, meas_std**2, init_speed_std**2, init_speed_std**2])
        self.accel_std = float(accel_std)
        self.R = np.eye(2) * meas_std**2

    @property
    def position(self) -> np.ndarray:
        """(2,) centre [m]."""
        return self.x[:2].copy()

    @property
    def velocity(self) -> np.ndarray:
        """(2,) velocity [m/s]."""
        return self.x[2:].copy()

    def predict(self, dt: float) -> None:
        """Advance the state by ``dt`` seconds (>= 0)."""
        F = np.eye(4)
        F[0, 2] = F[1, 3] = dt
        # Q = G G^T accel_std^2 with G = (dt^2/2, dt) per axis: one constant acceleration per step.
        q = self.accel_std**2 * np.array([[dt**4 / 4, dt**3 / 2], [dt**3 / 2, dt**2]])
        Q = np.zeros((4, 4))
        Q[np.ix_([0, 2], [0, 2])] = q
        Q[np.ix_([1, 3], [1, 3])] = q
        self.x = F @ self.x
        self.P = F @ self.P @ F.T + Q

    def innovation_cov(self) -> np.ndarray:
        """S (2, 2) [m^2]: covariance of ``z - H x`` for the next measurement; a Mahalanobis gate is
        ``d @ inv(S) @ d``."""
        return _H @ self.P @ _H.T + self.R

    def update(self, z: np.ndarray) -> None:
        """Correct the state with a measured centre ``z`` (2,) [m]."""
        S = self.innovation_cov()
        K = np.linalg.solve(S, _H @ self.P).T  # P H^T S^-1 (S and P symmetric)
        self.x = self.x + K @ (np.asarray(z, dtype=np.float64)[:2] - _H @ self.x)
        IKH = np.eye(4) - K @ _H
        self.P = IKH @ self.P @ IKH.T + K @ self.R @ K.T  # Joseph form: stays symmetric positive definite

"""t3d_ros: LiDAR object recognition for ROS 2 with a tiny distilled point-cloud network.

The core (this package minus ``t3d_ros.ros``) imports no ROS module and works on numpy arrays.
"""

import os

# OpenMP threads (numba's parallel sampling ops, torch) spin-wait between parallel regions by default.
# On a 2-core robot computer with anything else busy that made the sampling ops 3-5x slower (16-24 ms
# instead of ~5 ms a frame) and torch inference 10x slower. Passive threads sleep instead. The
# OpenMP runtime reads this once, when the first library that uses it loads (torch at import, numba
# at its first parallel call), so it is set here, before either; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

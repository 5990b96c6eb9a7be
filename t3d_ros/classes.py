"""The object classes the package knows, their ids and display colours.

Class ids index ``CLASSES``. Ground truth from the simulator uses ``GROUND_ID`` for ground
points; the node labels clusters ``UNKNOWN`` when no classifier is configured.
"""

from __future__ import annotations

CLASSES: tuple[str, ...] = (
    "car",  # cars, SUVs, small vans
    "truck",  # trucks, buses, large vans
    "pedestrian",
    "cyclist",  # a bicycle with its rider
    "pole",  # poles, tree trunks, sign posts
    "vegetation",  # bushes, tree crowns
    "structure",  # walls, fences, building corners
    "misc",  # bins, cones, boxes
)
UNKNOWN = "unknown"
ROAD_USERS: tuple[str, ...] = ("car", "truck", "pedestrian", "cyclist")  # what moves on the road; judged on real frames
GROUND_ID = -1  # per-point ground-truth class id of ground returns
UNKNOWN_ID = -2  # class id of clusters labelled UNKNOWN in output clouds
NO_INSTANCE = 0  # per-point instance id of ground returns

# RGB in [0, 1], chosen to stay distinguishable in rviz on a dark background.
CLASS_COLORS: dict[str, tuple[float, float, float]] = {
    "car": (0.20, 0.60, 1.00),
    "truck": (0.10, 0.30, 0.85),
    "pedestrian": (1.00, 0.25, 0.25),
    "cyclist": (1.00, 0.55, 0.10),
    "pole": (0.85, 0.85, 0.20),
    "vegetation": (0.20, 0.80, 0.30),
    "structure": (0.60, 0.60, 0.60),
    "misc": (0.80, 0.40, 0.90),
    UNKNOWN: (1.00, 1.00, 1.00),
}


def class_id(name: str) -> int:
    """Index of ``name`` in ``CLASSES``; raises ``ValueError`` with the known names."""
    try:
        return CLASSES.index(name)
    except ValueError:
        raise ValueError(f"unknown class {name!r}; known classes: {', '.join(CLASSES)}") from None

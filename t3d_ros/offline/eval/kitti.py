"""``python -m t3d_ros eval-kitti ROOT``: the node's detections against KITTI ``label_2`` boxes.

What counts (the node sees 360 degrees, KITTI labels only what the front camera sees):
- An object is *evaluated* when its box centre lies in the camera's horizontal field of view (camera
  2, image ``--image-width`` px wide), within ``--max-range`` m (xy) of the LiDAR, and at least
  ``--min-points`` returns lie inside its box; other labelled objects are *ignored*: missing them costs
  nothing and a detection on them is no false positive. ``DontCare`` rows carry no 3D box and are
  left out.
- A detection *matches* an object when its bird's-eye centre lies inside the object's footprint
  grown by ``--margin`` m on every side (a cluster box from a partial view is smaller than the label,
  but its centre stays on the object); pairs are taken one to one, nearest centres first.
- Recall (any label): share of evaluated objects matched by a detection, whatever its label; this is
  what clustering alone delivers (every label is ``unknown`` until a model is configured). Recall:
  share matched by a detection with the right class. Precision of class c: share of the in-scope
  detections labelled c (centre in the field of view and range, not on an ignored object) that match
  an object of class c. Only for car, truck, pedestrian and cyclist: KITTI's ``Misc`` is a catch-all
  and poles, vegetation and structures are never labelled, so such detections cannot be judged.

KITTI types map to the node's classes by ``t3d_ros.io.kitti.KITTI_TO_T3D`` (the one map, used by
training data too): Car, Van -> car; Truck, Tram -> truck; Pedestrian, Person_sitting -> pedestrian;
Cyclist -> cyclist; Misc -> misc.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from t3d_ros.classes import CLASS_COLORS, UNKNOWN
from t3d_ros.detection import Detection
from t3d_ros.geometry import box_corners_xy, points_in_boxes, points_in_footprints
from t3d_ros.io.kitti import KITTI_TO_T3D, KittiLabels
from t3d_ros.offline.viz import save_figure

EVAL_CLASSES = ("car", "truck", "pedestrian", "cyclist", "misc")
PRECISION_CLASSES = ("car", "truck", "pedestrian", "cyclist")
# Ignore reasons of a labelled object, in the order they are tested.
FAR, OUT_OF_FOV, FEW_POINTS = "far", "out_of_fov", "few_points"


def velo_to_image(xyz: np.ndarray, calib: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel column ``u`` (N,) in camera 2's image and depth ``z`` (N,) in front of it, of LiDAR
    points ``xyz`` (N, 3): P2 @ R0_rect @ Tr_velo_to_cam."""
    xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
    cam = calib["R0_rect"] @ (calib["Tr_velo_to_cam"] @ np.c_[xyz, np.ones(len(xyz))].T)  # (3, N)
    img = calib["P2"] @ np.r_[cam, np.ones((1, cam.shape[1]))]
    depth = img[2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = img[0] / depth
    return u, depth


def in_camera_fov(xyz: np.ndarray, calib: dict[str, np.ndarray], image_width: int = 1242) -> np.ndarray:
    """(N,) bool: the LiDAR point projects into camera 2's image columns and lies in front of it."""
    u, depth = velo_to_image(xyz, calib)
    return (depth > 0.1) & (u >= 0) & (u < image_width)


def match_detections(centers_xy: np.ndarray, gt_boxes: np.ndarray, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matching, nearest first, of detection centres (D, 2) to boxes (K, 7) whose
    footprint grown by ``margin`` holds them. Returns (det -> box index or -1, box -> det or -1)."""
    centers_xy = np.asarray(centers_xy, dtype=np.float64).reshape(-1, 2)
    gt_boxes = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 7)
    inside = points_in_footprints(centers_xy, gt_boxes, margin)  # (D, K)
    dist = np.hypot(centers_xy[:, None, 0] - gt_boxes[None, :, 0], centers_xy[:, None, 1] - gt_boxes[None, :, 1])
    det_to_gt = np.full(len(centers_xy), -1)
    gt_to_det = np.full(len(gt_boxes), -1)
    pairs = np.argwhere(inside)
    for i, k in pairs[np.argsort(dist[inside], kind="stable")]:
        if det_to_gt[i] < 0 and gt_to_det[k] < 0:
            det_to_gt[i], gt_to_det[k] = k, i
    return det_to_gt, gt_to_det


@dataclass
class FrameEval:
    """One frame's objects and detections with their matches.

    gt_type/gt_class: KITTI type and node class per labelled object; gt_status: "" (evaluated) or the
    reason it is ignored (far, out_of_fov, few_points); gt_match: matched detection or -1.
    det_scope: detection centre in the field of view and range; det_match: matched object or -1.
    """

    frame: str
    labels: KittiLabels
    gt_class: list[str]
    gt_points: np.ndarray
    gt_status: list[str]
    gt_match: np.ndarray
    detections: list[Detection]
    det_scope: np.ndarray
    det_match: np.ndarray

    def to_json(self) -> dict:
        """Per object: type, class, centre, range, points, status, matched label; plus counts."""
        objects = []
        for k, name in enumerate(self.labels.names):
            j = int(self.gt_match[k])
            objects.append({
                "type": str(name), "class": self.gt_class[k],
                "center": [round(float(v), 3) for v in self.labels.boxes[k, :3]],
                "range": round(float(np.hypot(*self.labels.boxes[k, :2])), 2),
                "num_points": int(self.gt_points[k]), "status": self.gt_status[k] or "evaluated",
                "detection": None if j < 0 else self.detections[j].to_json(),
            })
        return {"frame": self.frame, "objects": objects, "detections": len(self.detections),
                "detections_in_scope": int(self.det_scope.sum())}


def evaluate_frame(frame: str, points: np.ndarray, labels: KittiLabels, calib: dict[str, np.ndarray],
                   detections: Sequence[Detection], max_range: float = 50.0, min_points: int = 10,
                   margin: float = 0.5, image_width: int = 1242) -> FrameEval:
    """Match ``detections`` to ``labels`` of one frame (see the module docstring for the rules)."""
    boxes = labels.boxes
    gt_points = points_in_boxes(points[:, :3], boxes).sum(axis=0) if len(boxes) else np.zeros(0, int)
    gt_range = np.hypot(boxes[:, 0], boxes[:, 1])
    gt_fov = in_camera_fov(boxes[:, :3], calib, image_width) if len(boxes) else np.zeros(0, bool)
    status = [FAR if r > max_range else OUT_OF_FOV if not f else FEW_POINTS if n < min_points else ""
              for r, f, n in zip(gt_range, gt_fov, gt_points, strict=True)]
    centers = np.array([d.center[:3] for d in detections], dtype=np.float64).reshape(-1, 3)
    det_to_gt, gt_to_det = match_detections(centers[:, :2], boxes, margin)
    det_scope = ((np.hypot(centers[:, 0], centers[:, 1]) <= max_range) & in_camera_fov(centers, calib, image_width)
                 if len(centers) else np.zeros(0, bool))
    # A detection on an ignored object is neither right nor wrong: out of scope.
    on_ignored = np.array([k >= 0 and status[k] != "" for k in det_to_gt], dtype=bool)
    return FrameEval(frame, labels, [KITTI_TO_T3D.get(str(n)) or "misc" for n in labels.names], gt_points, status,
                     gt_to_det, list(detections), det_scope & ~on_ignored, det_to_gt)


def summarize(frames: Sequence[FrameEval]) -> dict[str, dict]:
    """Per class (and ``all``): objects, found (any label), right (right label), recall_any, recall,
    detections (in scope, labelled the class), true (of those, on an object of the class), precision
    (None where it cannot be judged or nothing was labelled so); plus the ``confusion``
    {class: {predicted label or 'missed': count}} of evaluated objects and ``in_view``, the labels of
    all in-scope detections {label: count}."""
    rows = {c: {"objects": 0, "found": 0, "right": 0, "detections": 0, "true": 0} for c in (*EVAL_CLASSES, "all")}
    confusion: dict[str, dict[str, int]] = {c: {} for c in EVAL_CLASSES}
    in_view: dict[str, int] = {}
    for fe in frames:
        for k, cls in enumerate(fe.gt_class):
            if fe.gt_status[k]:
                continue
            j = int(fe.gt_match[k])
            pred = fe.detections[j].label if j >= 0 else "missed"
            confusion[cls][pred] = confusion[cls].get(pred, 0) + 1
            for key in (cls, "all"):
                rows[key]["objects"] += 1
                rows[key]["found"] += j >= 0
                rows[key]["right"] += j >= 0 and pred == cls
        for j, det in enumerate(fe.detections):
            if fe.det_scope[j]:
                in_view[det.label] = in_view.get(det.label, 0) + 1
            if not fe.det_scope[j] or det.label not in PRECISION_CLASSES:
                continue
            k = int(fe.det_match[j])
            right = k >= 0 and fe.gt_class[k] == det.label
            for key in (det.label, "all"):
                rows[key]["detections"] += 1
                rows[key]["true"] += right
    for cls, r in rows.items():
        r["recall_any"] = round(r["found"] / r["objects"], 4) if r["objects"] else None
        r["recall"] = round(r["right"] / r["objects"], 4) if r["objects"] else None
        judged = cls in PRECISION_CLASSES or cls == "all"
        r["precision"] = round(r["true"] / r["detections"], 4) if judged and r["detections"] else None
    return {"classes": rows, "confusion": {c: v for c, v in confusion.items() if v},
            "in_view": dict(sorted(in_view.items()))}


def format_table(summary: dict) -> str:
    """The summary as a plain-text table."""
    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    lines = [f"{'class':<11} {'objects':>7} {'found':>5} {'right':>5} {'recall(any)':>11} {'recall':>6} "
             f"{'detections':>10} {'precision':>9}"]
    for cls, r in summary["classes"].items():
        if not r["objects"] and not r["detections"] and cls != "all":
            continue
        lines.append(f"{cls:<11} {r['objects']:>7} {r['found']:>5} {r['right']:>5} {pct(r['recall_any']):>11} "
                     f"{pct(r['recall']):>6} {r['detections']:>10} {pct(r['precision']):>9}")
    if summary["confusion"]:
        lines.append("evaluated objects by the label of their detection:")
    for cls, preds in summary["confusion"].items():
        lines.append(f"  {cls}: " + ", ".join(f"{p} {n}" for p, n in sorted(preds.items())))
    if summary["in_view"]:
        lines.append(f"detections in view: {sum(summary['in_view'].values())} ("
                     + ", ".join(f"{k} {n}" for k, n in summary["in_view"].items()) + ")")
    return "\n".join(lines)


def _fov_rays(calib: dict[str, np.ndarray], image_width: int) -> list[np.ndarray]:
    """Unit xy directions (LiDAR frame) of the image's left and right edges."""
    p2, r0, tr = calib["P2"], calib["R0_rect"], calib["Tr_velo_to_cam"]
    rays = []
    for u in (0.0, float(image_width)):
        d_rect = np.array([(u - p2[0, 2]) / p2[0, 0], 0.0, 1.0])
        d_velo = tr[:, :3].T @ (r0.T @ d_rect)  # rotations only: a direction
        rays.append(d_velo[:2] / np.linalg.norm(d_velo[:2]))
    return rays


def eval_png(path: str | Path, points: np.ndarray, fe: FrameEval, calib: dict[str, np.ndarray],
             max_range: float = 50.0, image_width: int = 1242) -> None:
    """Bird's-eye PNG of one frame: points in the camera's view (dimmed outside it), the evaluated
    region, labelled boxes (green: found with the right label, cyan: found as unknown, orange: found
    with another class, red: missed, grey dashed: ignored) and detections coloured by class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Polygon

    half_w = max_range * 0.85
    fig, ax = plt.subplots(figsize=(9.5, 6.6), dpi=100)
    ax.set_facecolor("black")
    view = (points[:, 0] > -3) & (points[:, 0] < max_range + 3) & (np.abs(points[:, 1]) < half_w)
    pts = points[view]
    fov = in_camera_fov(pts[:, :3], calib, image_width)
    for mask, alpha in ((~fov, 0.25), (fov, 1.0)):
        ax.scatter(-pts[mask, 1], pts[mask, 0], s=0.8, c=pts[mask, 2], cmap="turbo", vmin=-2.2, vmax=1.5,
                   linewidths=0, alpha=alpha, rasterized=True)
    rays = _fov_rays(calib, image_width)
    for ray in rays:
        ax.plot([0, -ray[1] * max_range], [0, ray[0] * max_range], color="#707070", lw=0.8)
    a0, a1 = sorted(np.arctan2(r[1], r[0]) for r in rays)
    arc = np.linspace(a0, a1, 60)
    ax.plot(-np.sin(arc) * max_range, np.cos(arc) * max_range, color="#707070", lw=0.8)

    def draw(center, size, yaw, **kw):
        xy = box_corners_xy(center, size, yaw)
        ax.add_patch(Polygon(np.c_[-xy[:, 1], xy[:, 0]], fill=False, **kw))

    for j, det in enumerate(fe.detections):
        color = CLASS_COLORS.get(det.label, CLASS_COLORS[UNKNOWN])
        draw(det.center, det.size, det.yaw, ec=color, lw=0.9, alpha=1.0 if fe.det_scope[j] else 0.35)
    for k, box in enumerate(fe.labels.boxes):
        j = int(fe.gt_match[k])
        if fe.gt_status[k]:
            color, style, text = "#9a9a9a", "--", f"{fe.labels.names[k]} ({fe.gt_status[k].replace('_', ' ')})"
        elif j < 0:
            color, style, text = "#ff3030", "-", f"{fe.labels.names[k]}: missed"
        else:
            label = fe.detections[j].label
            color = "#30ff60" if label == fe.gt_class[k] else "#30d0ff" if label == UNKNOWN else "#ffa020"
            style, text = "-", f"{fe.labels.names[k]} -> {label}"
        draw(box[:3], box[3:6], box[6], ec=color, lw=1.8, ls=style)
        ax.text(-box[1], box[0] + max(box[3], box[4]) / 2 + 1.0, text, color=color, fontsize=8, ha="center",
                bbox={"facecolor": "black", "alpha": 0.7, "pad": 1.5, "linewidth": 0})
    ax.plot([0], [0], marker="^", color="red", ms=8)
    ax.set_xlim(-half_w, half_w)
    ax.set_ylim(-3, max_range + 3)
    ax.set_aspect("equal")
    ax.set_xlabel("-y [m]")
    ax.set_ylabel("x [m]")
    n_eval = sum(1 for s in fe.gt_status if not s)
    found = sum(1 for k, s in enumerate(fe.gt_status) if not s and fe.gt_match[k] >= 0)
    ax.set_title(f"KITTI {fe.frame}: {found}/{n_eval} labelled objects found, "
                 f"{int(fe.det_scope.sum())} detections in view (≤ {max_range:g} m)")
    handles = [Line2D([], [], color=c, lw=2, ls=ls, label=lab) for c, ls, lab in (
        ("#30ff60", "-", "found, right class"), ("#30d0ff", "-", "found, unknown"),
        ("#ffa020", "-", "found, other class"),
        ("#ff3030", "-", "missed"), ("#9a9a9a", "--", "ignored"), ("white", "-", "detection (class colour)"))]
    ax.legend(handles=handles, loc="lower left", fontsize=7, facecolor="#202020", labelcolor="white",
              framealpha=0.8)
    save_figure(fig, path, quiet=True)


def training_dir(root: str | Path) -> Path:
    """``ROOT/training`` when it exists, else ``ROOT`` itself (either may be given)."""
    root = Path(root)
    return root / "training" if (root / "training" / "velodyne").is_dir() else root


def frame_ids(root: str | Path) -> list[str]:
    """Frames under ``root`` that have a scan, labels and a calibration."""
    t = training_dir(root)
    return sorted(p.stem for p in (t / "velodyne").glob("*.bin")
                  if (t / "label_2" / f"{p.stem}.txt").is_file() and (t / "calib" / f"{p.stem}.txt").is_file())

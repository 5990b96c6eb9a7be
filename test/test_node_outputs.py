"""perception_node builds output messages only for topics that have subscribers (in-process node)."""

from __future__ import annotations

import time

from conftest import spin_until

from t3d_ros.bench.data import street_with_objects


class _Count:
    """Stands in for a publisher: counts publish calls, reports the real one's subscribers."""

    def __init__(self, real) -> None:
        self.real, self.calls = real, 0

    def get_subscription_count(self) -> int:
        return self.real.get_subscription_count()

    def publish(self, msg) -> None:
        self.calls += 1
        self.real.publish(msg)


def test_outputs_are_built_only_when_subscribed(ros_node):
    from visualization_msgs.msg import MarkerArray

    from t3d_ros.bench.node import NodeHarness, cloud_message
    from t3d_ros.io.cloud import KITTI, build_cloud

    pts = street_with_objects(8, total=20_000)
    msg = cloud_message(build_cloud(KITTI, {"x": pts[:, 0], "y": pts[:, 1], "z": pts[:, 2],
                                            "intensity": pts[:, 3]}), 1)
    harness = NodeHarness(None, subscribers=False)
    try:
        node = harness.node
        counts = {name: _Count(getattr(node, name)) for name in ("pub_markers", "pub_clusters", "pub_detections")
                  if getattr(node, name) is not None}
        for name, c in counts.items():
            setattr(node, name, c)
        row = harness.frame(msg)  # the harness's JSON capture counts as a subscriber: stage times still come
        assert row["clusters"] == 8
        assert all(c.calls == 0 for c in counts.values()), {k: c.calls for k, c in counts.items()}

        node.publish_unsubscribed = True  # the benchmark's rows: every output built
        harness.frame(msg)
        assert all(c.calls == 1 for c in counts.values()), {k: c.calls for k, c in counts.items()}

        node.publish_unsubscribed = False
        sub = ros_node.create_subscription(MarkerArray, f"{node.get_fully_qualified_name()}/markers",
                                           lambda m: None, 5)
        try:
            assert spin_until(ros_node, lambda: counts["pub_markers"].get_subscription_count() > 0, 20)
            harness.frame(msg)
            assert counts["pub_markers"].calls == 2  # a subscriber: built and published
            assert counts["pub_clusters"].calls == 1  # still nobody on this one
        finally:
            ros_node.destroy_subscription(sub)
            time.sleep(0.1)
    finally:
        harness.close()

"""Reading point clouds: PointCloud2 buffers (``cloud``), files (``frames``), rosbag2 MCAP bags
(``bag``) and KITTI frames with their labels (``kitti``). No ROS module is imported here."""

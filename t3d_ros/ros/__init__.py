"""Everything that touches rclpy: the node executables (``perception_node``, ``sim_lidar_node``,
``replay_node``), their shared ``main`` (``spin``) and message conversion (``convert``). Wiring only:
the work is in the core."""

"""ROS 2 side of simreal: message conversion, the safety layer, the sim robot and policy nodes.

Modules import rclpy only where they need it; ``safety``, ``action_schedule`` and ``time_alignment`` are
pure Python. Console scripts (see ``EXECUTABLES``) map to the nodes' ``main`` functions.
"""

# executable name (ros2 run simreal <name>, launch files) -> console-script target
EXECUTABLES = {
    "sim_robot_node": "simreal.real.sim_robot_node:main",
    "policy_node": "simreal.real.policy_node:main",
}

"""ros2 launch simreal arm_policy.launch.py checkpoint:=/path observation_spec:=/path/obs.yaml

The policy node alone, for a real arm whose ros2_control stack (controller manager, joint states,
cameras) is already running. Start it with `ros2 service call /policy_node/start std_srvs/srv/Trigger`;
`ros2 topic pub --once /estop std_msgs/msg/Bool "{data: true}"` latches the e-stop.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    config = PathJoinSubstitution([FindPackageShare("simreal"), "config"])
    return LaunchDescription(
        [
            DeclareLaunchArgument("checkpoint", description="policy checkpoint directory"),
            DeclareLaunchArgument(
                "observation_spec", description="YAML mapping features to the arm's topics"
            ),
            Node(
                package="simreal",
                executable="policy_node",
                name="policy_node",
                output="screen",
                parameters=[
                    PathJoinSubstitution([config, "arm_policy.yaml"]),
                    {
                        "checkpoint": LaunchConfiguration("checkpoint"),
                        "observation_spec": LaunchConfiguration("observation_spec"),
                    },
                ],
            ),
        ]
    )

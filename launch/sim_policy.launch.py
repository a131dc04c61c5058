"""ros2 launch simreal sim_policy.launch.py checkpoint:=/path/to/checkpoint [task:=pick_place]

The MuJoCo sim robot and the policy node, with the parameter files in config/. `simreal deploy` starts
the same two nodes with the same files without ros2 launch.
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
            DeclareLaunchArgument("task", default_value="pick_place", description="simreal task"),
            DeclareLaunchArgument(
                "observation_spec",
                default_value=PathJoinSubstitution([config, "pick_place_observations.yaml"]),
                description="YAML mapping the checkpoint's observation features to topics",
            ),
            Node(
                package="simreal",
                executable="sim_robot_node",
                name="sim_robot_node",
                output="screen",
                parameters=[
                    PathJoinSubstitution([config, "sim_robot.yaml"]),
                    {"task": LaunchConfiguration("task")},
                ],
            ),
            Node(
                package="simreal",
                executable="policy_node",
                name="policy_node",
                output="screen",
                parameters=[
                    PathJoinSubstitution([config, "sim_policy.yaml"]),
                    {
                        "checkpoint": LaunchConfiguration("checkpoint"),
                        "observation_spec": LaunchConfiguration("observation_spec"),
                    },
                ],
            ),
        ]
    )

"""Publishes a topic as fast as asked (default: /ee_pose at 1000 Hz, 10x the control rate) for a while.

    python tests/real/flood_publisher.py --topic /ee_pose --rate 1000 --duration 5

Used by the flood test and benchmarks/bench_ros_rate.py --soak. Prints the number of messages sent.
"""

import argparse
import time

import rclpy
from geometry_msgs.msg import PoseStamped
from rclpy.qos import qos_profile_sensor_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--topic", default="/ee_pose", help="PoseStamped topic to flood")
    parser.add_argument("--rate", type=float, default=1000.0, help="messages per second")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds to publish")
    args = parser.parse_args()
    rclpy.init()
    node = rclpy.create_node("flood_publisher")
    pub = node.create_publisher(PoseStamped, args.topic, qos_profile_sensor_data)
    msg = PoseStamped()
    msg.header.frame_id = "base"
    msg.pose.orientation.w = 1.0
    msg.pose.position.x = 0.4
    msg.pose.position.z = 0.3
    period, sent = 1.0 / args.rate, 0
    start = time.monotonic()
    while (now := time.monotonic()) - start < args.duration:
        msg.header.stamp = node.get_clock().now().to_msg()
        pub.publish(msg)
        sent += 1
        delay = start + sent * period - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    print(f"sent {sent} in {now - start:.2f} s", flush=True)
    node.destroy_node()
    rclpy.shutdown()


if __name__ == "__main__":
    main()

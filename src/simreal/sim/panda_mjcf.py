"""Our Franka-Panda-like arm as MJCF text, written from the robot's published facts.

Kinematics are Franka's modified-DH parameters (d1=0.333, d3=0.316, a4=0.0825, a5=-0.0825, d5=0.384,
a7=0.088, flange d=0.107, hand rotated -45 deg about the flange z axis, fingers 0.0584 m past the
hand frame) expressed as MuJoCo body frames. Joint limits, link masses, centres of mass and inertia
tensors are the values published in franka_description. Geometry is low-polygon primitives
(capsules, boxes) that both render and collide: no meshes, so nothing is downloaded or loaded.

Everything is in the robot base frame, which is also MuJoCo's world frame in our scenes: x forward
(away from the base, over the table), y left, z up, the table top at z = 0.
"""

from __future__ import annotations

import numpy as np

ARM_JOINTS = tuple(f"joint{i}" for i in range(1, 8))
FINGER_JOINTS = ("finger_joint1", "finger_joint2")
# Names of the arm's position actuators and the gripper actuator (a user MJCF must use the same).
ARM_ACTUATORS = tuple(f"actuator{i}" for i in range(1, 8))
GRIPPER_ACTUATOR = "gripper"
TCP_SITE = "tcp"
HAND_BODY = "hand"
TCP_OFFSET = 0.1034  # m from the hand frame along its z axis, between the finger pads
# The wrist camera in the hand frame: 6 cm off the finger plane, 3 cm up, tilted to see the grasp point.
WRIST_CAMERA_POS = (0.06, 0.0, 0.03)
WRIST_CAMERA_XYAXES = (0.0, -1.0, 0.0, -0.96, 0.0, -0.28)
WRIST_CAMERA_FOVY = 70.0  # degrees

JOINT_LOWER = np.array([-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973])
JOINT_UPPER = np.array([2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973])
FINGER_MAX = 0.04  # travel of each finger (m); the jaw opens to 2 * FINGER_MAX
# Home posture: hand pointing down above the middle of the table, elbow up.
HOME_Q = np.array([0.0, -0.35, 0.0, -2.4, 0.0, 2.05, 0.785])

# Position-servo gains (N m / rad and N m s / rad) and torque limits (N m) per joint: stiff enough that
# gravity-compensated links track a 20 Hz target stream within a few millimetres at 500 Hz physics.
_KP = (4500, 4500, 3500, 3500, 2000, 2000, 2000)
_KV = (450, 450, 350, 350, 200, 200, 200)
_TORQUE = (87, 87, 87, 87, 12, 12, 12)

# (name, parent-relative pos, quat wxyz, mass kg, com pos, fullinertia Ixx Iyy Izz Ixy Ixz Iyz,
#  collision/visual capsules as fromto segments with radius)
_LINKS = (
    (
        "link1",
        "0 0 0.333",
        "1 0 0 0",
        4.970684,
        "0.003875 0.002081 -0.04762",
        "0.70337 0.70661 0.009117 -0.000139 0.006772 0.019169",
        (("0 0 -0.19 0 0 -0.03", 0.06),),
    ),
    (
        "link2",
        "0 0 0",
        "1 -1 0 0",
        0.646926,
        "-0.003141 -0.02872 0.003495",
        "0.007962 0.02811 0.025995 -0.003925 0.010254 0.000704",
        (("0 0 -0.06 0 0 0.06", 0.06), ("0 0 0 0 -0.2 0", 0.06)),
    ),
    (
        "link3",
        "0 -0.316 0",
        "1 1 0 0",
        3.228604,
        "0.027518 0.039252 -0.066502",
        "0.037242 0.036155 0.01083 -0.004761 -0.011396 -0.012805",
        (("0 0 -0.14 0 0 -0.05", 0.06), ("0.0825 0 -0.06 0.0825 0 0.02", 0.055)),
    ),
    (
        "link4",
        "0.0825 0 0",
        "1 1 0 0",
        3.587895,
        "-0.05317 0.104419 0.027454",
        "0.025853 0.019552 0.028323 0.007796 -0.001332 0.008641",
        (("0 0 -0.05 0 0 0.05", 0.055), ("-0.0825 0.06 0 -0.0825 0.13 0", 0.055)),
    ),
    (
        "link5",
        "-0.0825 0.384 0",
        "1 -1 0 0",
        1.225946,
        "-0.011953 0.041065 -0.038437",
        "0.035549 0.029474 0.008627 -0.002117 -0.004037 0.000229",
        (("0 0 -0.24 0 0 -0.04", 0.05), ("0 0.08 -0.2 0 0.08 -0.12", 0.035)),
    ),
    (
        "link6",
        "0 0 0",
        "1 1 0 0",
        1.666555,
        "0.060149 -0.014117 -0.010517",
        "0.001964 0.004354 0.005433 0.000109 -0.001158 0.000341",
        (("0 0 -0.04 0 0 0.02", 0.045), ("0 0 0 0.088 0 0", 0.045)),
    ),
    (
        "link7",
        "0.088 0 0",
        "1 1 0 0",
        0.735522,
        "0.010517 -0.004252 0.061597",
        "0.012516 0.010027 0.004815 -0.000428 -0.001196 -0.000741",
        (("0 0 -0.02 0 0 0.085", 0.042),),
    ),
)


def _vec(values) -> str:
    return " ".join(str(v) for v in values)


def _capsules(segments: tuple, cls: str) -> str:
    return "".join(f'<geom class="{cls}" type="capsule" fromto="{ft}" size="{r}"/>' for ft, r in segments)


def defaults_xml() -> str:
    """`<default>` classes used by the robot: joint damping/armature, servo actuators, geom groups.

    Robot geoms use contype=2/conaffinity=1 and everything else contype=1/conaffinity=3, so the robot
    collides with the scene but not with itself (saves contact work; the arm's own limits keep it apart).
    """
    return """
    <default class="panda">
      <joint armature="0.1" damping="1"/>
      <geom contype="2" conaffinity="1" material="panda_white" density="0"/>
      <default class="panda_dark"><geom material="panda_dark"/></default>
      <default class="finger_pad">
        <geom material="panda_dark" friction="1.5 0.01 0.0002" condim="4" solref="0.004 1"/>
      </default>
    </default>"""


def assets_xml() -> str:
    """Materials the robot uses."""
    return """
    <material name="panda_white" rgba="0.92 0.92 0.93 1"/>
    <material name="panda_dark" rgba="0.2 0.2 0.22 1"/>"""


def robot_body_xml() -> str:
    """The kinematic tree from the base (link0, fixed at the world origin) to the fingers.

    Contains the "tcp" site (the point between the finger pads, 0.1034 m past the flange, z axis
    pointing out of the gripper) and the "wrist" camera on the hand, looking along the fingers.
    """
    xml = [
        '<body name="link0" childclass="panda">'
        '<inertial mass="0.629769" pos="-0.041018 -0.00014 0.049974" '
        'fullinertia="0.00315 0.00388 0.004285 8.2904e-07 0.00015 8.2299e-06"/>'
        '<geom class="panda_dark" type="cylinder" pos="-0.02 0 0.07" size="0.075 0.07"/>'
    ]
    for i, (name, pos, quat, mass, com, inertia, segments) in enumerate(_LINKS):
        lo, hi = JOINT_LOWER[i], JOINT_UPPER[i]
        xml.append(
            f'<body name="{name}" pos="{pos}" quat="{quat}" gravcomp="1">'
            f'<inertial mass="{mass}" pos="{com}" fullinertia="{inertia}"/>'
            f'<joint name="{ARM_JOINTS[i]}" axis="0 0 1" range="{lo} {hi}"/>' + _capsules(segments, "panda")
        )
    xml.append(
        '<body name="hand" pos="0 0 0.107" quat="0.9238795 0 0 -0.3826834" gravcomp="1">'
        '<inertial mass="0.73" pos="-0.01 0 0.03" diaginertia="0.001 0.0025 0.0017"/>'
        '<geom type="box" pos="0 0 0.03" size="0.025 0.095 0.028"/>'
        '<geom class="panda_dark" type="cylinder" pos="0 0 -0.005" size="0.04 0.008"/>'
        f'<site name="{TCP_SITE}" pos="0 0 {TCP_OFFSET}" size="0.005" rgba="1 0 0 0" group="4"/>'
        f'<camera name="wrist" pos="{_vec(WRIST_CAMERA_POS)}" xyaxes="{_vec(WRIST_CAMERA_XYAXES)}" '
        f'fovy="{WRIST_CAMERA_FOVY}"/>'
    )
    for side, quat, joint in (("left", "1 0 0 0", FINGER_JOINTS[0]), ("right", "0 0 0 1", FINGER_JOINTS[1])):
        xml.append(
            f'<body name="{side}_finger" pos="0 0 0.0584" quat="{quat}" gravcomp="1">'
            '<inertial mass="0.015" pos="0 0.01 0.03" diaginertia="2.375e-06 2.375e-06 7.5e-07"/>'
            f'<joint name="{joint}" type="slide" axis="0 1 0" range="0 {FINGER_MAX}" armature="0.01"/>'
            '<geom class="panda_dark" type="box" pos="0 0.014 0.012" size="0.01 0.006 0.012"/>'
            '<geom class="finger_pad" type="box" pos="0 0.007 0.045" size="0.009 0.007 0.018"/>'
            "</body>"
        )
    xml.append("</body>")  # hand
    xml.append("</body>" * len(_LINKS))
    xml.append("</body>")  # link0
    return "".join(xml)


def actuators_xml() -> str:
    """Position servos on the 7 joints and one on the left finger (the right follows by equality).

    The gripper servo's control is the finger opening in metres per finger, 0 .. FINGER_MAX; its force
    is capped so a grasp squeezes with at most about 70 N, like Franka's hand.
    """
    xml = []
    for i, (kp, kv, tau) in enumerate(zip(_KP, _KV, _TORQUE, strict=True)):
        lo, hi = JOINT_LOWER[i], JOINT_UPPER[i]
        xml.append(
            f'<position name="{ARM_ACTUATORS[i]}" joint="{ARM_JOINTS[i]}" kp="{kp}" kv="{kv}" '
            f'ctrlrange="{lo} {hi}" forcerange="{-tau} {tau}"/>'
        )
    xml.append(
        f'<position name="{GRIPPER_ACTUATOR}" joint="{FINGER_JOINTS[0]}" kp="2000" kv="40" '
        f'ctrlrange="0 {FINGER_MAX}" forcerange="-70 70"/>'
    )
    return "".join(xml)


def equality_xml() -> str:
    """Couples the right finger to the left one so the jaw closes symmetrically."""
    return f'<joint joint1="{FINGER_JOINTS[0]}" joint2="{FINGER_JOINTS[1]}" solref="0.005 1"/>'

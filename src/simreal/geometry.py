"""Conventions for orientations that policies read (numpy only, so the ROS nodes can import it)."""

from __future__ import annotations

import numpy as np

# The gripper pointing straight down with its jaw closing along base y (wxyz): the home orientation.
GRIPPER_DOWN_QUAT = np.array([0.0, 1.0, 0.0, 0.0])


def canonical_quat(quat: np.ndarray) -> np.ndarray:
    """The sign of the wxyz quaternion `quat` (q and -q are the same rotation) on the hemisphere of
    GRIPPER_DOWN_QUAT.

    The usual convention w >= 0 flips the sign at random for a gripper pointing down (w is about 0
    there), which feeds a policy noise of +-1 on two state dimensions. Around the gripper-down
    orientation this convention is continuous; it flips only 180 degrees away from it.
    """
    quat = np.asarray(quat, dtype=float)
    return -quat if float(quat @ GRIPPER_DOWN_QUAT) < 0 else quat

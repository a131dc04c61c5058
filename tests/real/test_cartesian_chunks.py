"""End-effector chunks -> joint targets: IK reaches the poses, ee_delta accumulates like the env, the
policy node drives a joint-command arm from an ee_pose policy over DDS, and refuses what it cannot drive."""

import ast
from pathlib import Path

import numpy as np
import pytest
from fake_arm import ARM, HOME, LOWER, NAMES, OPEN_WIDTH, UPPER, FakeArm
from rclpy.parameter import Parameter
from ros_harness import wait_for
from test_policy_node import write_spec

from simreal.errors import UserError
from simreal.real.cartesian_chunks import (
    DEFAULT_EE_WORKSPACE,
    DEFAULT_HOME_Q,
    CartesianChunkConverter,
    JointHistory,
    arm_ik,
    workspace_corners,
)
from simreal.real.policy_node import PolicyNode
from simreal.real.policy_runner import DATASET_META, checkpoint_controller
from simreal.real.time_alignment import StaleObservation
from simreal.sim.base import TaskConfig
from simreal.sim.controllers import quat_error
from simreal.sim.panda_mjcf import HOME_Q

ROOT = Path(__file__).resolve().parents[2]
WORKSPACE = workspace_corners(DEFAULT_EE_WORKSPACE)
DT = 0.05  # s, a 20 Hz policy


@pytest.fixture(scope="module")
def ik():
    return arm_ik()


def pose_errors(ik, q7, pos, quat) -> tuple[float, float]:
    """(m, rad) between the TCP at joint angles q7 and the pose (pos, quat)."""
    reached_pos, reached_quat = ik.forward(q7)
    return float(np.linalg.norm(reached_pos - pos)), float(np.linalg.norm(quat_error(quat, reached_quat)))


def converter(ik, controller, q=HOME, gripper=True):
    return CartesianChunkConverter(controller, ik, WORKSPACE, lambda t: np.asarray(q), DT, gripper=gripper)


def test_defaults_follow_the_sim_and_the_checkpoint_layout():
    low, high = TaskConfig().ee_workspace
    assert [*low, *high] == DEFAULT_EE_WORKSPACE
    assert np.allclose(DEFAULT_HOME_Q, HOME_Q) and np.allclose(TaskConfig().home_q, HOME_Q)
    tree = ast.parse((ROOT / "src/simreal/training/checkpoint.py").read_text())  # without importing torch
    values = {
        t.id: n.value.value
        for n in tree.body
        if isinstance(n, ast.Assign)
        for t in n.targets
        if hasattr(t, "id")
    }
    assert values["DATASET_META"] == DATASET_META


def test_ee_pose_chunk_reaches_every_pose(ik):
    start_pos, start_quat = ik.forward(HOME)
    # 16 reachable poses 1 cm apart, turning 0.3 rad about z on the way: the chunk a policy would emit.
    steps = np.arange(1, 17)[:, None]
    positions = start_pos + steps * np.array([0.01, -0.006, -0.008])
    yaw = np.linspace(0.02, 0.3, 16)
    quats = np.stack([np.array([np.cos(a / 2), 0, 0, np.sin(a / 2)]) for a in yaw])
    quats = np.stack([_mul(q, start_quat) for q in quats])
    grip = np.linspace(0, 1, 16)[:, None]
    chunk = np.hstack([positions, quats, grip])
    out = converter(ik, "ee_pose").convert(chunk, obs_time=0.0)
    assert out.shape == (16, 8)
    assert np.allclose(out[:, 7], grip[:, 0])  # the gripper passes through
    lower, upper = np.array(LOWER[:7]), np.array(UPPER[:7])
    assert np.all(out[:, :7] >= lower) and np.all(out[:, :7] <= upper)
    for row, pos, quat in zip(out, positions, quats, strict=True):
        dp, dr = pose_errors(ik, row[:7], pos, quat)
        assert dp < 1e-3 and dr < 0.01, (dp, dr)
    # Warm-started from the measured joints and then from each solution: a smooth joint path.
    assert np.abs(np.diff(np.vstack([HOME, out[:, :7]]), axis=0)).max() < 0.1


def test_ee_pose_is_clamped_to_the_workspace_as_in_the_sim(ik):
    _, quat = ik.forward(HOME)
    # Below the table, too far left and too high: clamped to the workspace box (z >= 0, y <= 0.45,
    # z <= 0.6); the quaternion is normalised; the gripper clipped to [0, 1].
    chunk = np.array(
        [[0.5, 0.0, -0.3, *quat, 0.0], [0.5, 0.9, 0.3, *(0.5 * quat), 3.0], [0.5, 0.0, 0.8, *quat, -1.0]]
    )
    # One chunk per pose: each IK starts at HOME (60 iterations do not cover a 45 cm jump in one go).
    out = np.vstack([converter(ik, "ee_pose").convert(row, obs_time=0.0) for row in chunk])
    for row, clamped in zip(out, [[0.5, 0.0, 0.0], [0.5, 0.45, 0.3], [0.5, 0.0, 0.6]], strict=True):
        dp, dr = pose_errors(ik, row[:7], np.array(clamped), quat)
        assert dp < 1e-3 and dr < 0.01, (clamped, dp, dr)
    assert out[:, 7].tolist() == [0.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="non-finite"):
        converter(ik, "ee_pose").convert(np.full((2, 8), np.nan), obs_time=0.0)
    with pytest.raises(ValueError, match=r"\(T, 8\)"):
        converter(ik, "ee_pose").convert(np.zeros((2, 7)), obs_time=0.0)


def test_ee_delta_accumulates_onto_the_commanded_pose_across_chunks(ik):
    measured = HOME + np.array([0.02, 0.02, 0, -0.02, 0, 0.02, 0])  # the arm lags its command a bit
    conv = converter(ik, "ee_delta", q=measured, gripper=False)
    anchor_pos, anchor_quat = ik.forward(measured)
    delta = np.array([0.004, -0.003, -0.002, 0.0, 0.0, 0.01])
    chunk = np.tile(np.append(delta, 0.0), (8, 1))
    first = conv.convert(chunk, obs_time=10.0)
    assert first.shape == (8, 7)  # no gripper_joint: the gripper command is dropped
    for i, row in enumerate(first):
        pos = anchor_pos + (i + 1) * delta[:3]
        quat = _mul(_rotz((i + 1) * 0.01), anchor_quat)
        dp, dr = pose_errors(ik, row, pos, quat)
        assert dp < 1e-3 and dr < 0.01, (i, dp, dr)
    # The next chunk, observed 4 actions into the first, continues from the commanded pose of the first
    # chunk's action due before it (index 3: anchor + 4 deltas), not from the measured TCP.
    second = conv.convert(chunk[:2], obs_time=10.0 + 4 * DT)
    dp, dr = pose_errors(ik, second[0], anchor_pos + 5 * delta[:3], _mul(_rotz(0.05), anchor_quat))
    assert dp < 1e-3 and dr < 0.01, (dp, dr)
    # After reset (~/stop, ~/reset_estop) the commanded pose starts again at the measured TCP.
    conv.reset()
    third = conv.convert(chunk[:1], obs_time=12.0)
    dp, _ = pose_errors(ik, third[0], anchor_pos + delta[:3], anchor_quat)
    assert dp < 1e-3
    # Steps beyond the env's EE_DELTA_MAX (5 cm) are clipped as the env clips them.
    conv.reset()
    big = conv.convert(np.array([[0.3, 0, 0, 0, 0, 0, 0]]), obs_time=13.0)
    assert pose_errors(ik, big[0], anchor_pos + [0.05, 0, 0], anchor_quat)[0] < 1e-3


def test_joint_history_picks_the_state_at_the_observation():
    history = JointHistory(max_age=0.2)
    with pytest.raises(StaleObservation, match="nothing received"):
        history.at(1.0)
    for k in range(10):
        history.push(1.0 + 0.01 * k, np.full(7, float(k)))
    assert history.at(1.045)[0] == 4.0 and history.at(0.5)[0] == 0.0
    with pytest.raises(StaleObservation, match="old"):
        history.at(2.0)
    history.push(1.1, np.full(7, np.nan))
    with pytest.raises(StaleObservation, match="non-finite"):
        history.at(1.1)


def test_checkpoint_controller_reads_the_dataset_meta(tmp_path):
    # No meta (a lerobot-train checkpoint): refused, as an ee_pose chunk would pass for joint targets.
    with pytest.raises(UserError, match="records no action space"):
        checkpoint_controller(tmp_path)
    (tmp_path / DATASET_META).write_text('{"task": "pick_place"}')
    with pytest.raises(UserError, match="names no controller"):
        checkpoint_controller(tmp_path)
    (tmp_path / DATASET_META).write_text('{"task": "pick_place", "controller": "ee_pose"}')
    assert checkpoint_controller(tmp_path) == "ee_pose"
    (tmp_path / DATASET_META).write_text("{not json")
    with pytest.raises(UserError, match="dataset meta"):
        checkpoint_controller(tmp_path)


class ScriptedPosePolicy:
    """Runner-shaped double of an ee_pose checkpoint: every chunk is the same target pose."""

    fps = 20.0
    n_obs_steps = 1

    def __init__(self, pose, controller="ee_pose", action_dim=8, chunk=16):
        self.pose, self.controller, self.chunk = np.asarray(pose, float), controller, chunk
        self.features = {
            "observation.state": {"dtype": "float32", "shape": (15,), "names": None},
            "action": {"dtype": "float32", "shape": (action_dim,), "names": None},
        }

    def predict_chunk(self, obs):
        return np.tile(self.pose, (self.chunk, 1))

    def reset(self):
        pass


def ee_policy_node(tmp_path, runner, context, **overrides) -> PolicyNode:
    params = {
        "observation_spec": write_spec(tmp_path),
        "joint_names": ARM,
        "gripper_joint": "gripper",
        "gripper_open_position": OPEN_WIDTH,
        "lower_limits": LOWER,
        "upper_limits": UPPER,
        "max_velocity": [2.0] * 7 + [5.0],
        "control_rate": 100.0,
        **overrides,
    }
    return PolicyNode(
        runner, parameter_overrides=[Parameter(k, value=v) for k, v in params.items()], context=context
    )


@pytest.mark.ros
@pytest.mark.timeout(60)
def test_policy_node_drives_joint_commands_from_an_ee_pose_policy(ros, tmp_path, ik):
    start_pos, start_quat = ik.forward(HOME)
    target_pos = start_pos + np.array([0.05, 0.08, -0.06])
    target_quat = _mul(_rotz(0.2), start_quat)
    runner = ScriptedPosePolicy(np.concatenate([target_pos, target_quat, [1.0]]))
    arm = ros.add(FakeArm(context=ros.context))
    node = ros.add(ee_policy_node(tmp_path, runner, ros.context))
    ros.start()
    assert wait_for(lambda: len(arm.received()) > 50, timeout=15), node.diagnostics()
    assert wait_for(lambda: pose_errors(ik, arm.q[:7], target_pos, target_quat)[0] < 1e-3, timeout=10), (
        pose_errors(ik, arm.q[:7], target_pos, target_quat),
        node.diagnostics(),
    )
    assert pose_errors(ik, arm.q[:7], target_pos, target_quat)[1] < 0.01
    assert arm.received()[-1][1].shape == (8,) and arm.received()[-1][1][7] == 1.0  # gripper passthrough
    assert wait_for(lambda: node.diagnostics()["inferences"] >= 2, timeout=5)  # a chunk after the first
    diag = node.diagnostics()
    assert diag.get("convert_error", 0) == 0
    assert 0 < diag["ik_latency_p50_ms"] <= diag["ik_latency_p99_ms"] < 200
    # the rate over the ticks so far: a stall while the test process starts up averages out
    assert wait_for(lambda: node.diagnostics()["control_rate_hz"] > 80, timeout=5), node.diagnostics()


def test_policy_node_refuses_action_spaces_it_cannot_drive(ros, tmp_path):
    pose = np.zeros(8)
    with pytest.raises(UserError, match="'ee_velocity'"):
        ee_policy_node(tmp_path, ScriptedPosePolicy(pose, controller="ee_velocity"), ros.context)
    with pytest.raises(UserError, match="ee_pose action has 7 entries, expected 8"):
        ee_policy_node(tmp_path, ScriptedPosePolicy(pose, action_dim=7), ros.context)
    with pytest.raises(UserError, match="ee_delta action has 8 entries, expected 7"):
        ee_policy_node(tmp_path, ScriptedPosePolicy(pose, controller="ee_delta"), ros.context)
    with pytest.raises(UserError, match="7 arm joint targets"):
        ee_policy_node(
            tmp_path,
            ScriptedPosePolicy(pose),
            ros.context,
            joint_names=ARM[:6],
            lower_limits=LOWER[:6] + [0.0],
            upper_limits=UPPER[:6] + [1.0],
            max_velocity=[2.0] * 7,
        )
    with pytest.raises(UserError, match="ee_workspace"):
        ee_policy_node(tmp_path, ScriptedPosePolicy(pose), ros.context, ee_workspace=[0.0, 0.0, 0.0])
    with pytest.raises(UserError, match="does not exist"):
        ee_policy_node(tmp_path, ScriptedPosePolicy(pose), ros.context, robot_mjcf=str(tmp_path / "none.xml"))
    assert NAMES[-1] == "gripper"


def _mul(a, b):
    from simreal.sim.controllers import quat_multiply

    return quat_multiply(a, b)


def _rotz(angle):
    return np.array([np.cos(angle / 2), 0.0, 0.0, np.sin(angle / 2)])

"""Closed loop over DDS with a real trained checkpoint: `simreal collect` + `simreal train` (tiny, a few
steps), then `simreal deploy` runs sim_robot_node and policy_node from launch/sim_policy.launch.py while
this process watches the commands, the arm and the policy's diagnostics. Once with a joint_pos checkpoint
(state + point cloud), once with an ee_pose one (state only), whose TCP poses the policy node turns into
joint commands by IK."""

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from ros_harness import wait_for
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from simreal.errors import UserError
from simreal.real.launch_graph import read_node_parameters
from simreal.real.policy_node import PolicyNode
from simreal.real.policy_runner import load_runner

pytestmark = [pytest.mark.ros, pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]


def simreal(*args, env=None, timeout=300):
    result = subprocess.run(
        [sys.executable, "-m", "simreal.cli", *args], capture_output=True, text=True, timeout=timeout, env=env
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny diffusion policy trained for a few steps on one short pick_place demo (state + cloud)."""
    root = tmp_path_factory.mktemp("closed_loop")
    simreal(
        "collect",
        "--task",
        "pick_place",
        "--episodes",
        "1",
        "--out",
        str(root / "ds"),
        "--obs",
        "state,pointcloud",
        "--cameras",
        "front",
        "--max-steps",
        "30",
        "--keep-failed",
        "--no-progress",
    )
    simreal(
        "train",
        "--policy",
        "diffusion",
        "--dataset",
        str(root / "ds"),
        "--obs",
        "state,pointcloud",
        "--out",
        str(root / "run"),
        "--steps",
        "3",
        "--batch-size",
        "4",
        "--config",
        "tiny",
        "--device",
        "cpu",
        "--eval-every",
        "0",
    )
    return next((root / "run" / "checkpoints" / "last").resolve().glob("**/config.json")).parent


@pytest.fixture(scope="module")
def ee_pose_checkpoint(tmp_path_factory):
    """A tiny diffusion policy trained for 2 steps on one 20-step pick_place demo recorded with ee_pose
    actions (x, y, z, qw, qx, qy, qz, gripper), state only: seconds to make."""
    root = tmp_path_factory.mktemp("closed_loop_ee_pose")
    collect = "collect --task pick_place --controller ee_pose --episodes 1 --max-steps 20 --keep-failed"
    simreal(*collect.split(), "--obs", "state", "--no-progress", "--out", str(root / "ds"))
    train = "train --policy diffusion --obs state --steps 2 --batch-size 4 --config tiny --device cpu"
    simreal(*train.split(), "--eval-every", "0", "--dataset", str(root / "ds"), "--out", str(root / "run"))
    pretrained = next((root / "run" / "checkpoints" / "last").resolve().glob("**/config.json")).parent
    assert json.loads((pretrained / "simreal_dataset.json").read_text())["controller"] == "ee_pose"
    return pretrained


def test_the_policy_samples_with_the_inference_steps_the_node_is_given(ros, checkpoint):
    """policy_node's inference_steps parameter reaches the policy, loaded here or in its child process."""
    assert load_runner(str(checkpoint)).runner.config.num_inference_steps == 100  # saved: DDPM-100
    assert load_runner(str(checkpoint), inference_steps=2).runner.config.num_inference_steps == 2
    params = {
        **read_node_parameters(ROOT / "launch/config/sim_policy.yaml", "policy_node"),
        "checkpoint": str(checkpoint),
        "observation_spec": str(ROOT / "launch/config/pick_place_observations.yaml"),
        "inference_steps": 101,
    }
    overrides = [Parameter(k, value=v) for k, v in params.items()]
    with pytest.raises(UserError, match=r"inference steps must be in \[1, 100\]"):
        PolicyNode(parameter_overrides=overrides, context=ros.context)


class Watcher(Node):
    def __init__(self, context):
        super().__init__("watcher", context=context)
        self.lock = threading.Lock()
        self.commands, self.joints, self.diag = [], [], {}
        self.create_subscription(Float64MultiArray, "/forward_position_controller/commands", self._cmd, 100)
        self.create_subscription(JointState, "/joint_states", self._js, qos_profile_sensor_data)
        self.create_subscription(DiagnosticArray, "/diagnostics", self._diag, 10)

    def _cmd(self, msg):
        with self.lock:
            self.commands.append(np.frombuffer(msg.data, dtype=np.float64).copy())

    def _js(self, msg):
        with self.lock:
            self.joints.append(np.frombuffer(msg.position, dtype=np.float64)[:7].copy())

    def _diag(self, msg):
        with self.lock:
            self.diag = {kv.key: float(kv.value) for s in msg.status for kv in s.values}


def test_deploy_runs_a_trained_checkpoint_on_the_sim_robot(ros, checkpoint, tmp_path):
    diag = deploy_and_watch(ros, checkpoint, tmp_path, drop=["observation.images.front"])
    assert "ik_latency_p50_ms" not in diag  # joint_pos: the actions are the commands


def test_deploy_drives_the_sim_robot_from_an_ee_pose_checkpoint(ros, ee_pose_checkpoint, tmp_path):
    drop = ["observation.images.front", "observation.pointcloud"]
    diag = deploy_and_watch(ros, ee_pose_checkpoint, tmp_path, drop=drop)
    assert diag.get("convert_error", 0) == 0
    assert 0 < diag["ik_latency_p50_ms"] <= diag["ik_latency_p99_ms"] < 100  # IK per chunk, ms


def deploy_and_watch(ros, checkpoint, tmp_path, drop) -> dict:
    """`simreal deploy` the checkpoint with the features in ``drop`` left out of the observation spec;
    check the 8-wide command stream moves the sim arm (or holds when every chunk was late); return the
    policy node's last diagnostics."""
    watcher = ros.add(Watcher(ros.context))
    ros.start()
    spec = yaml.safe_load((ROOT / "launch/config/pick_place_observations.yaml").read_text())
    for feature in drop:  # the checkpoint does not see these
        del spec["features"][feature]
    (tmp_path / "obs.yaml").write_text(yaml.safe_dump(spec))
    deploy = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simreal.cli",
            "deploy",
            "--checkpoint",
            str(checkpoint),
            "--observation-spec",
            str(tmp_path / "obs.yaml"),
            "--duration",
            "90",
        ],
        env=ros.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        ok = wait_for(lambda: len(watcher.commands) > 200 or deploy.poll() is not None, timeout=90)
        assert ok and deploy.poll() is None, (
            deploy.stdout.read() if deploy.poll() is not None else "no commands"
        )
        assert wait_for(lambda: watcher.diag.get("inferences", 0) >= 3, timeout=20), watcher.diag
        time.sleep(2.0)
    finally:
        deploy.send_signal(2)
        output = deploy.communicate(timeout=60)[0]
    assert deploy.returncode == 0, output[-2000:]
    with watcher.lock:
        commands, joints, diag = np.stack(watcher.commands), np.stack(watcher.joints), dict(watcher.diag)
    assert np.isfinite(commands).all() and commands.shape[1] == 8
    moved = np.ptp(commands[:, :7], axis=0).max() > 1e-3
    # A chunk whose every action is due before it arrives is dropped whole (Diffusion Policy's rule):
    # on a busy machine a tiny policy's inference can outlast its chunk, and then the arm must hold.
    all_late = diag["dropped_actions"] >= 0.9 * diag["inferences"] * 8
    assert moved or all_late, diag
    if moved:
        assert np.ptp(joints, axis=0).max() > 1e-3, "the sim arm did not follow its commands"
    else:
        assert np.ptp(commands, axis=0).max() == 0.0, "commands changed although every action was late"
    assert diag.get("inference_error", 0) == 0 and diag["inference_latency_p50_ms"] > 0
    return diag


@pytest.mark.parametrize("checkpoint_fixture", ["checkpoint", "ee_pose_checkpoint"])
def test_closed_loop_episodes_run_eval_seeds_over_ros(checkpoint_fixture, request, monkeypatch, tmp_path):
    """simreal.deploy.closed_loop_episodes (the `make demo` ROS step): the same seeds over DDS and in
    `simreal eval`, each ROS episode reset to its seed through the sim's parameter + /sim/reset, ended by
    the task's time limit; an ee_pose policy has the node solve IK for every chunk it schedules. Its
    scratch folder (observation spec, node logs) is gone afterwards."""
    import tempfile

    from ros_harness import unique_domain_id

    from simreal.deploy import closed_loop_episodes

    checkpoint = request.getfixturevalue(checkpoint_fixture)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # this call's temporary files, and no other's
    result = closed_loop_episodes(checkpoint, episodes=2, max_steps=20, domain=unique_domain_id())
    assert not list(tmp_path.glob("simreal_closed_loop_*"))
    ros, ev, node = result["ros"], result["eval"], result["node"]
    seeds = result["seeds"]
    assert [e["seed"] for e in ros["per_episode"]] == [e["seed"] for e in ev["per_episode"]] == seeds
    for episode in ros["per_episode"]:  # 20 steps at 20 Hz = 1 s of simulated time, unless it succeeded
        assert episode["success"] or 1.0 <= episode["sim_seconds"] < 2.0, episode
    assert 0.0 <= ros["success_rate"] <= 1.0 and len(ros["success_ci95"]) == 2
    # The 100 Hz stream while episodes ran.
    assert 90.0 < result["command"]["command_rate_hz"] < 110.0, result["command"]
    assert node["inferences"] >= 1 and node.get("convert_error", 0) == 0, node
    if checkpoint_fixture == "ee_pose_checkpoint":
        assert node["ik_latency_p50_ms"] > 0, node


def test_closed_loop_scratch_is_removed_and_a_failure_carries_the_node_logs(monkeypatch, tmp_path):
    """The graph's scratch folder goes whether the episodes end or fail; a failure's message ends with
    the tail of each node's log, which is gone with the folder."""
    import tempfile

    from simreal import deploy
    from simreal.errors import UserError

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def fail(folder, *args):
        (folder / "policy_node.log").write_text("starting\nerror: observation.pointcloud is missing\n")
        raise UserError("closed loop: no /sim/task_status within 120 s")

    monkeypatch.setattr(deploy, "_run_graph", lambda folder, *args: ([], {}, {}))
    assert deploy._ros_episodes(*[None] * 8) == ([], {}, {})
    monkeypatch.setattr(deploy, "_run_graph", fail)
    with pytest.raises(UserError, match=r"(?s)task_status.*policy_node.*observation.pointcloud is missing"):
        deploy._ros_episodes(*[None] * 8)
    assert not list(tmp_path.glob("simreal_closed_loop_*"))

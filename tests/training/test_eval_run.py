"""Training and evaluation against the real pick_place task (MuJoCo), on a two-demo dataset."""

import json

import pytest

from simreal.cli import main
from simreal.datasets import read_simreal_meta, used_seeds
from simreal.errors import UserError
from simreal.evaluate import evaluate
from simreal.train import train
from simreal.training.config import TrainConfig

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pick_place_run(tmp_path_factory):
    """Two scripted pick_place demos (state + 64-point cloud) and a tiny MeanFlow trained on them,
    with one periodic evaluation at its last step."""
    from simreal.collect import CollectConfig, collect
    from simreal.sim import ObservationConfig

    root = tmp_path_factory.mktemp("pick_place")
    obs = ObservationConfig.parse("state,pointcloud,points=64")
    collect(CollectConfig(task="pick_place", episodes=2, out=root / "data", obs=obs), progress=False)
    config = TrainConfig(
        policy="meanflow",
        dataset=str(root / "data"),
        out=str(root / "run"),
        obs=("state", "pointcloud"),
        preset="tiny",
        steps=2,
        batch_size=8,
        device="cpu",
        eval_every=2,
        eval_episodes=1,
    )
    return root, train(config)


def test_periodic_evaluation_in_training(pick_place_run):
    root, result = pick_place_run
    (summary,) = result.evaluations
    assert summary["step"] == 2 and summary["episodes"] == 1
    assert (root / "run" / "eval" / "step_000002.mp4").stat().st_size > 0
    assert json.loads((root / "run" / "eval" / "step_000002.json").read_text())["success_rate"] in (0.0, 1.0)


def test_eval_json_videos_and_seeds(pick_place_run, tmp_path):
    root, _ = pick_place_run
    out = tmp_path / "eval.json"
    argv = [
        "eval",
        "--checkpoint",
        str(root / "run"),
        "--episodes",
        "3",
        "--workers",
        "2",
        "--max-steps",
        "15",
        "--video",
        str(tmp_path / "videos"),
        "--videos",
        "1",
        "--json",
        str(out),
    ]
    assert main(argv) == 0
    result = json.loads(out.read_text())
    for key in (
        "checkpoint",
        "policy_type",
        "task",
        "seeds",
        "episodes",
        "successes",
        "success_rate",
        "success_ci95",
        "episode_length",
        "final_progress",
        "latency_ms",
        "per_episode",
        "videos",
        "machine",
    ):
        assert key in result, key
    assert result["policy_type"] == "simreal_meanflow" and result["task"] == "pick_place"
    assert result["episodes"] == 3 and result["episode_length"]["max"] <= 15
    assert result["latency_ms"]["calls"] == sum(e["length"] for e in result["per_episode"])
    assert 0 < result["latency_ms"]["p50"] <= result["latency_ms"]["p99"]
    assert all(0.0 <= e["final_progress"] <= e["peak_progress"] <= 1.0 for e in result["per_episode"])
    assert all(
        set(e["outcome"]) == {"cube_to_pad_m", "cube_above_pad_m", "cube_held"} for e in result["per_episode"]
    )
    assert result["machine"]["torch_cpu_capability"] and result["machine"]["cpu_count"] >= 1
    low, high = result["success_ci95"]
    assert low <= result["success_rate"] <= high
    demo_seeds = used_seeds(read_simreal_meta(root / "data"))
    assert not demo_seeds & {e["seed"] for e in result["per_episode"]}
    assert len(result["videos"]) == 1 and (tmp_path / "videos").is_dir()


def test_demo_seeds_are_refused(pick_place_run):
    root, _ = pick_place_run
    first_demo_seed = min(used_seeds(read_simreal_meta(root / "data")))
    with pytest.raises(UserError, match="overlap"):
        evaluate(root / "run", episodes=2, seed_start=first_demo_seed)


def test_a_rollout_replays_exactly_from_its_seed(pick_place_run):
    """The policy's sampling noise is seeded with the episode seed: the same seed gives the same
    actions, another seed other ones, and the caller's torch generator is left as it was."""
    import numpy as np
    import torch

    from simreal.policies import load_policy
    from simreal.rollout import make_task_env, run_episode

    root, _ = pick_place_run
    env = make_task_env(read_simreal_meta(root / "data"), max_episode_steps=12)
    runner = load_policy(root / "run" / "checkpoints" / "last" / "pretrained_model", "cpu")
    actions: list[np.ndarray] = []

    def recording(observation):
        actions.append(runner(observation))
        return actions[-1]

    recording.reset = runner.reset
    rollouts = []
    for seed in (100_000, 100_000, 100_001):
        actions.clear()
        state = torch.get_rng_state()
        run_episode(env, recording, seed)
        assert torch.equal(torch.get_rng_state(), state)
        rollouts.append(np.stack(actions))
    np.testing.assert_array_equal(rollouts[0], rollouts[1])
    assert not np.array_equal(rollouts[0], rollouts[2])


def test_eval_workers_end_when_eval_is_killed(pick_place_run, tmp_path):
    """A SIGTERM to `simreal eval` skips the pool's shutdown; its worker processes must not live on."""
    import signal
    import subprocess
    import sys
    import time

    import psutil

    root, _ = pick_place_run
    log = tmp_path / "eval.log"
    argv = [
        "eval",
        "--checkpoint",
        str(root / "run"),
        "--episodes",
        "200",
        "--workers",
        "2",
        "--max-steps",
        "15",
    ]
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from simreal.cli import main; sys.exit(main(sys.argv[1:]))",
                *argv,
            ],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 180
        while "success=" not in log.read_text():  # workers are up and have finished an episode
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        workers = [
            child
            for child in psutil.Process(process.pid).children()
            if "spawn_main" in " ".join(child.cmdline())
        ]
        assert len(workers) == 2
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        deadline = time.monotonic() + 15
        while (alive := [w for w in workers if _running(w)]) and time.monotonic() < deadline:
            time.sleep(0.2)
        for worker in alive:
            worker.kill()
        assert not alive
    finally:
        process.kill()


def _running(process) -> bool:
    """Alive and not a zombie (an exited orphan that the container's init may never reap)."""
    import psutil

    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False

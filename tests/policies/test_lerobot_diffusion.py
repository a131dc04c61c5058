"""LeRobot's own `diffusion` policy, trained by `lerobot-train` on a real simreal dataset, runs through
simreal's load_policy and `simreal eval`; LeRobot types simreal cannot run are refused by name."""

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from lerobot.policies.act.configuration_act import ACTConfig
from policy_test_data import run_lerobot_train

from simreal.collect import CollectConfig, collect
from simreal.datasets import open_dataset, read_simreal_meta
from simreal.errors import UserError
from simreal.evaluate import evaluate
from simreal.policies import load_policy
from simreal.rollout import make_task_env
from simreal.sim import ObservationConfig

N_ACTION_STEPS = 4


@pytest.fixture(scope="module")
def sim_image_dataset(tmp_path_factory) -> Path:
    """One 12-step pick_place episode: state + a 32x32 front camera, ee_pose actions."""
    out = tmp_path_factory.mktemp("sim_img") / "ds"
    obs = ObservationConfig(cameras=("front",), pointcloud=False, image_size=(32, 32))
    config = CollectConfig("pick_place", 1, out, obs, controller="ee_pose", keep_failed=True, max_steps=12)
    assert collect(config, progress=False).saved == 1
    return out


@pytest.fixture(scope="module")
def lerobot_checkpoint(sim_image_dataset, tmp_path_factory) -> Path:
    """`lerobot-train --policy.type=diffusion`, 2 steps, a tiny U-Net, offline (no ImageNet backbone)."""
    out = tmp_path_factory.mktemp("lerobot_dp") / "run"
    return run_lerobot_train(
        out,
        sim_image_dataset,
        "--policy.type=diffusion",
        "--policy.pretrained_backbone_weights=null",
        "--policy.use_group_norm=true",
        "--policy.down_dims=[16,32]",
        "--policy.diffusion_step_embed_dim=16",
        "--policy.kernel_size=3",
        "--policy.n_groups=4",
        "--policy.spatial_softmax_num_keypoints=8",
        "--policy.crop_shape=[28,28]",
        "--policy.horizon=8",
        f"--policy.n_action_steps={N_ACTION_STEPS}",
        "--policy.drop_n_last_frames=3",
        "--policy.num_train_timesteps=20",
        steps=2,
    )


def test_lerobot_diffusion_checkpoint_acts_on_an_env_observation(sim_image_dataset, lerobot_checkpoint):
    env = make_task_env(read_simreal_meta(sim_image_dataset))
    try:
        runner = load_policy(
            lerobot_checkpoint,
            device="cpu",
            features=env.unwrapped.features,
            stats=open_dataset(sim_image_dataset).meta.stats,
            inference_steps=3,
        )
        assert runner.config.type == "diffusion" and runner.config.num_inference_steps == 3
        observation, _ = env.reset(seed=100_000)
        action = runner(observation)
        assert action.shape == (8,) and np.isfinite(action).all()
        runner.reset()
        chunk = runner.predict_chunk(observation)
        assert chunk.shape == (N_ACTION_STEPS, 8) and np.isfinite(chunk).all()
    finally:
        env.close()


def test_a_checkpoint_trained_with_use_amp_runs_under_autocast_as_lerobot_eval_runs_it(
    sim_image_dataset, lerobot_checkpoint, tmp_path
):
    checkpoint = shutil.copytree(lerobot_checkpoint, tmp_path / "amp")
    config = json.loads((checkpoint / "config.json").read_text())
    (checkpoint / "config.json").write_text(json.dumps({**config, "use_amp": True}))
    env = make_task_env(read_simreal_meta(sim_image_dataset))
    try:
        observation, _ = env.reset(seed=100_000)
    finally:
        env.close()
    runs = {}
    for name, path in (("float32", lerobot_checkpoint), ("amp", checkpoint)):
        runner = load_policy(path, device="cpu", inference_steps=3)
        dtypes = []
        first_conv = next(m for m in runner.policy.diffusion.unet.modules() if isinstance(m, torch.nn.Conv1d))
        first_conv.register_forward_hook(lambda module, args, out, seen=dtypes: seen.append(out.dtype))
        torch.manual_seed(0)
        runs[name] = (runner.predict_chunk(observation), set(dtypes))
    (chunk32, dtypes32), (chunk_amp, dtypes_amp) = runs["float32"], runs["amp"]
    assert dtypes32 == {torch.float32} and dtypes_amp == {torch.bfloat16}
    assert chunk_amp.dtype == np.float32 and np.isfinite(chunk_amp).all()
    assert np.allclose(chunk_amp, chunk32, atol=0.1) and not np.array_equal(chunk_amp, chunk32)


def test_lerobot_diffusion_checkpoint_is_checked_against_the_dataset(sim_image_dataset, lerobot_checkpoint):
    stats = copy.deepcopy(open_dataset(sim_image_dataset).meta.stats)
    stats["action"]["max"] = stats["action"]["max"] + 1.0
    with pytest.raises(UserError, match="normalization stats of 'action' differ"):
        load_policy(lerobot_checkpoint, device="cpu", stats=stats)
    with pytest.raises(UserError, match=r"inference steps must be in \[1, 20\]"):
        load_policy(lerobot_checkpoint, device="cpu", inference_steps=50)


def test_a_pretrained_backbone_in_the_config_is_never_downloaded(lerobot_checkpoint, tmp_path, monkeypatch):
    """LeRobot's default config names ImageNet ResNet-18 weights; the trained ones are in the checkpoint."""
    checkpoint = shutil.copytree(lerobot_checkpoint, tmp_path / "imagenet_named")
    config = json.loads((checkpoint / "config.json").read_text())
    config["pretrained_backbone_weights"] = "ResNet18_Weights.IMAGENET1K_V1"
    (checkpoint / "config.json").write_text(json.dumps(config))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    runner = load_policy(checkpoint, device="cpu")
    assert runner.config.pretrained_backbone_weights is None
    assert not (tmp_path / "torch_home").exists()


def test_eval_takes_the_task_and_demo_seeds_from_the_dataset(sim_image_dataset, lerobot_checkpoint):
    result = evaluate(
        lerobot_checkpoint, episodes=1, max_steps=3, inference_steps=2, dataset=sim_image_dataset
    )
    assert (result["policy_type"], result["task"], result["episodes"]) == ("diffusion", "pick_place", 1)
    assert result["seeds"]["demo_seeds_known"] and result["episode_length"]["max"] == 3
    demo_seed = read_simreal_meta(sim_image_dataset)["episodes"][0]["seed"]
    with pytest.raises(UserError, match="overlap 1 demonstration seeds"):
        evaluate(lerobot_checkpoint, episodes=1, seed_start=demo_seed, dataset=sim_image_dataset)
    for task in (None, "pick_place"):  # --task alone would leave the action space a guess
        with pytest.raises(UserError, match="pass --dataset"):
            evaluate(lerobot_checkpoint, episodes=1, task=task)


def test_lerobot_types_simreal_cannot_run_are_refused(tmp_path):
    ACTConfig().save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["type"] == "act"
    with pytest.raises(UserError, match="holds a 'act' policy, not one of simreal's.*runs diffusion"):
        load_policy(tmp_path, device="cpu")

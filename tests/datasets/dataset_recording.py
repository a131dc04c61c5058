"""Recording small real datasets: pick_place in MuJoCo through DatasetRecorder (LeRobot's writer).

A uniquely named module (not conftest) so test files can import it without clashing with the other
areas' conftest modules."""

import os

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")

SPEC = "state,rgb,depth,pointcloud"
STEPS = 12  # frames per episode: short, the tests check storage, not task success


def record_episodes(root, *, spec=SPEC, episodes=2, steps=STEPS, seeds=(11, 12), resume=False):
    """Steps pick_place with its scripted expert and records `episodes` episodes of `steps` frames.
    Returns what was written: per episode, the list of (observation, action) pairs."""
    import dataclasses

    from simreal.datasets import DatasetRecorder
    from simreal.sim import ObservationConfig, make_env

    obs_config = dataclasses.replace(ObservationConfig.parse(spec), cameras=("front",), image_size=(48, 64))
    env = make_env("pick_place", obs=obs_config)
    task = env.unwrapped
    written = []
    with DatasetRecorder.open(
        root,
        env_features=task.features,
        fps=task.fps,
        task="pick_place",
        task_description=task.task_description,
        controller="joint_pos",
        observation=obs_config.to_dict(),
        expert={"kind": "scripted", "noise": 1.0},
        resume=resume,
    ) as recorder:
        for seed in seeds[:episodes]:
            obs, _ = env.reset(seed=seed)
            expert = task.make_expert(np.random.default_rng(seed))
            frames = []
            for _ in range(steps):
                action = expert.act(obs)
                recorder.add_frame(obs, action)
                frames.append((obs, action))
                obs, *_ = env.step(action)
            recorder.save_episode(seed=seed, success=False)
            written.append(frames)
    env.close()
    return written

"""Expert demonstrations of Meta-World v3 tasks, written as LeRobot datasets.

Meta-World's scripted policy acts from privileged state; each step records the agent state, the
DP3 point cloud and the action through simreal's DatasetRecorder (LeRobot's create / add_frame /
save_episode / finalize, plus the meta/simreal.json sidecar with every episode's reset seed).
"""

from __future__ import annotations

from pathlib import Path

from mw_env import MetaWorldTask
from tqdm import tqdm

from simreal.datasets import DatasetRecorder


def collect_demos(
    task: MetaWorldTask, root: Path, num_demos: int, *, first_seed: int = 0, max_attempts: int = 50
) -> dict:
    """Record `num_demos` successful expert episodes of `task` into a new dataset at `root`.

    Seeds first_seed, first_seed+1, ... are tried in order; an episode that does not reach success
    within the task's max steps is discarded (its seed is still remembered as used). Returns
    {"episodes", "attempts", "frames", "lengths"}.
    """
    recorder = DatasetRecorder.open(
        root,
        env_features=task.features,
        fps=task.fps,
        task=f"metaworld/{task.name}",
        task_description=task.description,
        controller="metaworld_xyz_delta",
        observation={"state": True, "pointcloud": True, "num_points": task.num_points},
        expert={"kind": "metaworld_scripted", "noise": 0.0},
        robot_type="sawyer",
        use_videos=False,
    )
    lengths: list[int] = []
    seed = first_seed
    with recorder, tqdm(total=num_demos, desc=f"demos {task.name}", leave=False) as bar:
        while len(lengths) < num_demos:
            if seed - first_seed >= max_attempts:
                raise RuntimeError(f"{task.name}: only {len(lengths)} successes in {max_attempts} tries")
            expert = task.make_expert()
            obs = task.reset(seed)
            success = False
            for _ in range(task.max_steps):
                action = expert.get_action(task.raw_obs)
                recorder.add_frame(obs, action)
                obs, success = task.step(action)
                if success:
                    break
            if success:
                lengths.append(recorder.pending_frames)
                recorder.save_episode(seed=seed, success=True)
                bar.update()
            else:
                recorder.discard_episode(seed=seed)
            seed += 1
    return {
        "episodes": len(lengths),
        "attempts": seed - first_seed,
        "frames": sum(lengths),
        "lengths": lengths,
    }

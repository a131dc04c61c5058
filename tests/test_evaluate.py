"""Evaluation statistics and seed hygiene (the rollouts themselves are covered with the real tasks)."""

import pytest

from simreal.errors import UserError
from simreal.evaluate import summarize, wilson_interval
from simreal.rollout import Episode, held_out_seeds


@pytest.mark.parametrize(
    ("successes", "trials", "expected"),
    [
        (0, 10, (0.0, 0.2775)),  # the Wilson interval never collapses to a point at 0 or 1
        (5, 10, (0.2366, 0.7634)),
        (10, 10, (0.7225, 1.0)),
        (80, 100, (0.7112, 0.8666)),
    ],
)
def test_wilson_interval(successes, trials, expected):
    assert wilson_interval(successes, trials) == pytest.approx(expected, abs=1e-4)


def test_summary_fields():
    episodes = [
        Episode(seed=7, success=True, length=40, latencies_s=[0.010] * 39 + [0.100], final_progress=1.0),
        Episode(seed=8, success=False, length=60, latencies_s=[0.020] * 60, final_progress=0.4),
    ]
    summary = summarize(episodes)
    assert summary["episodes"] == 2 and summary["successes"] == 1 and summary["success_rate"] == 0.5
    assert summary["success_ci95"] == pytest.approx(wilson_interval(1, 2))
    assert summary["episode_length"] == {"mean": 50.0, "median": 50.0, "max": 60}
    assert summary["final_progress"] == pytest.approx({"mean": 0.7, "failed_mean": 0.4})
    assert summary["latency_ms"]["calls"] == 100
    assert summary["latency_ms"]["p50"] == pytest.approx(20.0)
    assert 20.0 < summary["latency_ms"]["p99"] <= 100.0
    assert summary["per_episode"] == [
        {"seed": 7, "success": True, "length": 40, "final_progress": 1.0},
        {"seed": 8, "success": False, "length": 60, "final_progress": 0.4},
    ]


def test_overlapping_seeds_are_refused_or_skipped():
    demo = {0, 1, 2, 5, 103}
    with pytest.raises(UserError, match="overlap 1 demonstration seeds.*--seed-start 104"):
        held_out_seeds(100, 10, demo, skip_demo_seeds=False)
    assert held_out_seeds(100, 3, demo, skip_demo_seeds=False) == [100, 101, 102]
    assert held_out_seeds(0, 4, demo, skip_demo_seeds=True) == [3, 4, 6, 7]
    with pytest.raises(UserError, match="--episodes"):
        held_out_seeds(0, 0, demo, skip_demo_seeds=True)

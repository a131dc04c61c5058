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
        Episode(seed=7, success=True, length=40, latencies_s=[0.010] * 39 + [0.100], final_progress=1.0,
                peak_progress=1.0, outcome={"cube_to_pad_m": 0.01}),
        Episode(seed=8, success=False, length=60, latencies_s=[0.020] * 60, final_progress=0.4,
                peak_progress=0.9, outcome={"cube_to_pad_m": 0.06}),
        Episode(seed=9, success=False, length=60, latencies_s=[], final_progress=0.2,
                peak_progress=0.3, outcome={"cube_to_pad_m": 0.1}),
    ]  # fmt: skip
    summary = summarize(episodes)
    assert (
        summary["episodes"] == 3
        and summary["successes"] == 1
        and summary["success_rate"] == pytest.approx(1 / 3)
    )
    assert summary["success_ci95"] == pytest.approx(wilson_interval(1, 3))
    assert summary["episode_length"] == {"mean": pytest.approx(160 / 3), "median": 60.0, "max": 60}
    assert summary["final_progress"] == pytest.approx(
        {"mean": 1.6 / 3, "failed_mean": 0.3, "failed_peak_mean": 0.6}
    )
    assert summary["failed_outcome_mean"] == pytest.approx({"cube_to_pad_m": 0.08})
    assert summary["latency_ms"]["calls"] == 100
    assert summary["latency_ms"]["p50"] == pytest.approx(20.0)
    assert 20.0 < summary["latency_ms"]["p99"] <= 100.0
    assert summary["per_episode"][1] == {
        "seed": 8, "success": False, "length": 60, "final_progress": 0.4, "peak_progress": 0.9,
        "outcome": {"cube_to_pad_m": 0.06},
    }  # fmt: skip


def test_summary_of_all_successes_has_no_failure_means():
    summary = summarize([Episode(seed=1, success=True, length=5, latencies_s=[0.01] * 5, final_progress=1.0)])
    assert summary["final_progress"]["failed_mean"] is None and summary["failed_outcome_mean"] == {}


def test_overlapping_seeds_are_refused_or_skipped():
    demo = {0, 1, 2, 5, 103}
    with pytest.raises(UserError, match="overlap 1 demonstration seeds.*--seed-start 104"):
        held_out_seeds(100, 10, demo, skip_demo_seeds=False)
    assert held_out_seeds(100, 3, demo, skip_demo_seeds=False) == [100, 101, 102]
    assert held_out_seeds(0, 4, demo, skip_demo_seeds=True) == [3, 4, 6, 7]
    with pytest.raises(UserError, match="--episodes"):
        held_out_seeds(0, 0, demo, skip_demo_seeds=True)

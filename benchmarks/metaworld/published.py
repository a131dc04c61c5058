"""Published Meta-World numbers to set simreal's results beside.

MP1 and DP3 used Meta-World v2, 10 demos per task (MP1's demo scripts generate 20), and report the
mean of the top-5 success rates of evaluations (20 episodes every 200 epochs) over seeds 0, 1, 2:
a max over checkpoints. Per-task table entries were not at hand when this was written, so they are
left out (the table prints '-') rather than quoted from memory; the aggregates below are.
"""

PUBLISHED = {
    "protocol": "mean of top-5 of 20-episode evaluations every 200 epochs, seeds 0,1,2; Meta-World v2",
    # MP1 paper (Sheng et al. 2025, arXiv 2507.10543) as summarised in shared/ANCHORS.md: average over
    # 37 tasks (3 Adroit + 34 Meta-World); DP3 and FlowPolicy on the same tasks from the same paper.
    "mp1_mean_37_tasks": 0.789,
    "dp3_mean_37_tasks": round(0.789 - 0.102, 3),
    "flowpolicy_mean_37_tasks": round(0.789 - 0.073, 3),
    # DP3 paper (Ze et al. 2024, arXiv 2403.03954), Meta-World difficulty-group means as listed by a
    # benchmark aggregator. The default tasks of bench_metaworld.py are all in the "easy" group.
    "dp3_metaworld_easy_mean": 0.909,
    "dp3_metaworld_medium_mean": 0.727,
    "dp3_metaworld_hard_mean": 0.380,
    "tasks": {},
}

"""Published Meta-World numbers to set simreal's results beside (from ANCHORS.md, the MP1 paper).

MP1 and DP3 used Meta-World v2, 10 demos per task (MP1's demo scripts generate 20), and report the
mean of the top-5 success rates of evaluations (20 episodes every 200 epochs) over seeds 0, 1, 2:
a max over checkpoints. Per-task table entries were not at hand when this was written, so they are
left as None (the table prints '-') rather than quoted from memory.
"""

PUBLISHED = {
    "source": "MP1 (Sheng et al. 2025, arXiv 2507.10543), as summarised in shared/ANCHORS.md",
    "protocol": "mean of top-5 of 20-episode evaluations every 200 epochs, seeds 0,1,2; Meta-World v2",
    "mp1_mean_37_tasks": 0.789,
    "dp3_mean_37_tasks": 0.789 - 0.102,
    "flowpolicy_mean_37_tasks": 0.789 - 0.073,
    "tasks": {},
}

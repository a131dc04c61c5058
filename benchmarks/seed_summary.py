"""Pool the training seeds of a policy_success cell: per-seed successes, the mean over seeds with its
standard error, and the pooled rate with its 95% Wilson interval.

A group is named by its cell key without the seed, e.g.
`pick_place/meanflow/pointcloud_lr3e-3_normpc_shift4cm`; its seed-S draws are the cells `<key>_seedS`,
and seed 0's may also be `<key>` itself (the sweep's convention). Where both `<key>` and `<key>_seed0`
exist, the second is a repeat of seed 0: listed, never pooled, so each seed counts once. The pooled
interval treats every episode as independent and so understates the spread between training seeds; the
standard error of the mean over seeds does not.

    .venv/bin/python benchmarks/seed_summary.py pick_place/meanflow/pointcloud_lr3e-3_normpc_shift4cm \\
        pick_place/diffusion/pointcloud_lr3e-3_normpc_shift4cm
Writes benchmarks/results/seed_summary.json (one row per group, replaced on each run of that group).
"""

from __future__ import annotations

import argparse
import re
import statistics

from bench_env_steps import RESULTS, read_results, record_result
from simreal.errors import UserError
from simreal.evaluate import wilson_interval

SWEEP_RESULTS = RESULTS / "policy_success.json"


def seed_draws(cells: dict[str, dict], group: str) -> tuple[dict[int, dict], list[dict]]:
    """({seed: cell} of the group's draws, [repeats of seed 0]); a UserError if the group has no cell."""
    draws, repeats = ({0: cells[group]} if group in cells else {}), []
    pattern = re.compile(re.escape(group) + r"_seed(\d+)")
    for key, cell in cells.items():
        match = pattern.fullmatch(key)
        if match is None:
            continue
        seed = int(match.group(1))
        if seed in draws:
            repeats.append(cell)
        else:
            draws[seed] = cell
    if not draws:
        raise UserError(f"no cell '{group}' or '{group}_seedS' in {SWEEP_RESULTS}")
    return dict(sorted(draws.items())), repeats


def summarize_group(draws: dict[int, dict], repeats: list[dict]) -> dict:
    rates = [100 * cell["successes"] / cell["episodes"] for cell in draws.values()]
    successes = sum(cell["successes"] for cell in draws.values())
    episodes = sum(cell["episodes"] for cell in draws.values())
    low, high = wilson_interval(successes, episodes)
    return {
        "seeds": list(draws),
        "successes_per_seed": [cell["successes"] for cell in draws.values()],
        "episodes_per_seed": [cell["episodes"] for cell in draws.values()],
        "mean_percent": statistics.fmean(rates),
        "standard_error_percent": statistics.stdev(rates) / len(rates) ** 0.5 if len(rates) > 1 else None,
        "pooled": {"successes": successes, "episodes": episodes, "ci95_percent": [100 * low, 100 * high]},
        "seed0_repeats": [cell["successes"] for cell in repeats],
    }


HEADER = "| group | seeds | successes per seed | mean ± s.e. over seeds | pooled [95% CI] | seed-0 repeats |"


def table_row(group: str, row: dict) -> str:
    error = row["standard_error_percent"]
    spread = f"{row['mean_percent']:.1f}%" + (f" ± {error:.1f}" if error is not None else "")
    pooled = row["pooled"]
    low, high = pooled["ci95_percent"]
    cells = [
        group,
        ", ".join(map(str, row["seeds"])),
        " / ".join(map(str, row["successes_per_seed"])),
        spread,
        f"{pooled['successes']}/{pooled['episodes']} [{low:.1f}, {high:.1f}]",
        " / ".join(map(str, row["seed0_repeats"])) or "-",
    ]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("groups", nargs="+", help="cell keys of policy_success.json without the seed suffix")
    args = parser.parse_args()
    cells = read_results(SWEEP_RESULTS).get("cells", {})
    rows = {group: summarize_group(*seed_draws(cells, group)) for group in args.groups}
    print(HEADER)
    print("|---|---|---|---|---|---|")
    for group, row in rows.items():
        record_result(RESULTS / "seed_summary.json", "seed_summary", ("groups", group), row)
        print(table_row(group, row))


if __name__ == "__main__":
    try:
        main()
    except UserError as err:
        raise SystemExit(f"error: {err}") from None

"""Held-out success of trained checkpoints under other sampler settings, paired episode by episode.

Each variant is a copy of the run's last pretrained_model whose config.json has some sampler settings
changed (the weights are the same file); every variant of a run is evaluated on the same seeds, so the
rows differ only in sampling. The default seeds start at 300000: neither the demos' seeds nor the
held-out table's (from 100000), so choosing a setting here does not tune it to the reported seeds.
Results are written after every evaluation; a row already in the file is skipped unless --force.
At the end each variant is set against the first, pooled over the runs episode by episode: the
episodes only one of the two solved, and the exact two-sided sign test on them (`paired`).

    .venv/bin/python benchmarks/bench_sampler_settings.py RUN [RUN ...] --variant eta=1.0 --variant eta=0.0 \\
        --out benchmarks/results/streaming_eta.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import simreal  # noqa: F401  (first: sets OMP_WAIT_POLICY=PASSIVE before torch loads)
from bench_env_steps import RESULTS, read_results, record_result
from simreal.errors import UserError

# Settings that change how a trained network is sampled, never which weights it needs.
SAMPLER_KEYS = ("eta", "num_inference_calls", "num_initial_calls", "num_inference_steps", "sampler")
VALIDATION_SEED_START = 300_000


def parse_variant(text: str) -> dict:
    """'eta=0.0,num_inference_calls=10' -> {'eta': 0.0, 'num_inference_calls': 10} (values as JSON)."""
    settings = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or key not in SAMPLER_KEYS:
            raise argparse.ArgumentTypeError(
                f"'{item}': expected KEY=VALUE with KEY one of {', '.join(SAMPLER_KEYS)}"
            )
        settings[key] = json.loads(value)
    return settings


def run_name(run: Path) -> str:
    """The run's row in the results: task directory / run directory."""
    return f"{run.parent.name}/{run.name}"


def variant_name(settings: dict) -> str:
    return ",".join(f"{k}={json.dumps(v)}" for k, v in settings.items())


def variant_config(pretrained: Path, settings: dict) -> dict:
    """`pretrained`'s config.json with `settings` written in; SystemExit naming a key the config lacks
    or a value it refuses (checked by loading it as the policy would)."""
    config = json.loads((pretrained / "config.json").read_text())
    missing = [k for k in settings if k not in config]
    if missing:
        raise SystemExit(f"{pretrained}: a {config['type']} config has no {', '.join(missing)}")
    from lerobot.configs import PreTrainedConfig

    import simreal.policies  # noqa: F401  (registers simreal's policy configs)

    merged = {**config, **settings}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "config.json").write_text(json.dumps(merged))
        try:
            PreTrainedConfig.from_pretrained(tmp, local_files_only=True)
        except UserError as err:
            raise SystemExit(f"{pretrained}: {variant_name(settings)}: {err}") from err
    return merged


def variant_copy(pretrained: Path, config: dict, name: str, into: Path) -> Path:
    """A copy of `pretrained` named `name` under `into`, with `config` as its config.json."""
    copy = into / name
    shutil.copytree(pretrained, copy)
    (copy / "config.json").write_text(json.dumps(config, indent=4))
    return copy


def sign_test_p(wins: int, losses: int) -> float:
    """Exact two-sided sign test: how often a fair coin splits wins + losses at least this unevenly."""
    n = wins + losses
    tail = sum(math.comb(n, k) for k in range(min(wins, losses) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired(runs: dict, baseline: str, variant: str) -> dict:
    """`variant` against `baseline` over every run holding both, episode by episode (same seeds)."""
    first = second = only_first = only_second = 0
    for rows in runs.values():
        if baseline not in rows or variant not in rows:
            continue
        a, b = rows[baseline]["success_by_seed"], rows[variant]["success_by_seed"]
        for seed in a.keys() & b.keys():
            first += a[seed]
            second += b[seed]
            only_first += a[seed] and not b[seed]
            only_second += b[seed] and not a[seed]
    return {
        "baseline": baseline,
        "successes": [first, second],
        "only_baseline": only_first,
        "only_variant": only_second,
        "sign_test_p": sign_test_p(only_first, only_second),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", type=Path, help="training run directories (simreal train --out)")
    parser.add_argument(
        "--variant",
        type=parse_variant,
        action="append",
        required=True,
        help=f"KEY=VALUE[,KEY=VALUE], KEY one of {', '.join(SAMPLER_KEYS)}; once per variant",
    )
    parser.add_argument("--episodes", type=int, default=100, help="episodes per variant (default 100)")
    parser.add_argument(
        "--seed-start", type=int, default=VALIDATION_SEED_START, help="first seed (default 300000)"
    )
    parser.add_argument("--workers", type=int, default=1, help="evaluation processes (default 1)")
    parser.add_argument("--out", type=Path, default=RESULTS / "sampler_settings.json", help="JSON to write")
    parser.add_argument("--force", action="store_true", help="re-evaluate rows already in the file")
    args = parser.parse_args()
    pretrained = {run: run / "checkpoints" / "last" / "pretrained_model" for run in args.runs}
    for run, path in pretrained.items():
        if not (path / "config.json").is_file():
            parser.error(
                f"{run} has no checkpoints/last/pretrained_model: not a finished simreal training run"
            )
    configs = {
        (run, variant_name(settings)): variant_config(path, settings)
        for run, path in pretrained.items()
        for settings in args.variant
    }
    os.environ.setdefault("MUJOCO_GL", "egl")
    from simreal.evaluate import evaluate

    done = read_results(args.out).get("runs", {})
    for run, path in pretrained.items():
        name = run_name(run)
        for settings in args.variant:
            variant = variant_name(settings)
            if variant in done.get(name, {}) and not args.force:
                continue
            with tempfile.TemporaryDirectory() as tmp:
                row = evaluate(
                    variant_copy(path, configs[run, variant], variant, Path(tmp)),
                    episodes=args.episodes,
                    seed_start=args.seed_start,
                    workers=args.workers,
                    skip_demo_seeds=True,
                )
            keys = ("episodes", "successes", "success_rate", "success_ci95", "latency_ms", "wall_s")
            point = {k: row[k] for k in keys}
            point["settings"] = settings
            point["success_by_seed"] = {str(e["seed"]): e["success"] for e in row["per_episode"]}
            record_result(args.out, "sampler_settings", ("runs", name, variant), point)
            print(f"{name} {variant}: {row['successes']}/{row['episodes']}")
    names = [variant_name(settings) for settings in args.variant]
    recorded = read_results(args.out)["runs"]
    runs = {run_name(run): recorded[run_name(run)] for run in args.runs}
    for variant in names[1:]:
        summary = paired(runs, names[0], variant)
        record_result(args.out, "sampler_settings", ("paired", variant), summary)
        print(
            f"{variant} against {names[0]}: {summary['successes'][1]} against {summary['successes'][0]} "
            f"successes; solved by only one: {summary['only_variant']} against {summary['only_baseline']} "
            f"(sign test p = {summary['sign_test_p']:.2f})"
        )


if __name__ == "__main__":
    main()

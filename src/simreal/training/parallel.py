"""Data-parallel training on the CPU: N processes, one slice of every batch each, gradients averaged.

A small U-Net trains fastest on one thread (benchmarks/results/train_threads.json), which leaves the
other cores idle. `launch` runs the training function in N processes joined by a gloo process group:
every rank builds the same model from the same seed, reads the same shuffled global batch order and
keeps only its slice ``batch[rank::N]``; after backward one all-reduce averages the gradients (and the
loss), so every rank takes the same optimiser step and the weights stay identical. Rank 0 (this
process) logs, evaluates and writes checkpoints; the others only compute. Noise draws differ per rank
(each has its own seed), so N processes follow a different, equally valid, random stream than one.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from lerobot.utils.random_utils import deserialize_rng_state, serialize_rng_state
from safetensors.torch import load_file, save_file

from simreal.errors import UserError

# Rank 0 evaluates and saves while the others wait in their next all-reduce.
COLLECTIVE_TIMEOUT = timedelta(hours=2)


@dataclass(frozen=True)
class Rank:
    """This process's place in a data-parallel run (index 0 of 1 when training alone)."""

    index: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.index == 0

    @property
    def parallel(self) -> bool:
        return self.world > 1


ALONE = Rank()


class BatchSlice(torch.utils.data.Sampler):
    """Yields this rank's slice ``batch[rank::world]`` of every batch of a batch sampler."""

    def __init__(self, batches: torch.utils.data.Sampler, rank: Rank) -> None:
        self.batches, self.rank = batches, rank

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.batches:
            yield batch[self.rank.index :: self.rank.world]

    def __len__(self) -> int:
        return len(self.batches)


def average_gradients(params: Sequence[torch.nn.Parameter], loss: torch.Tensor, rank: Rank) -> float:
    """Replace each gradient by its mean over the ranks (one all-reduce); returns the mean loss."""
    if not rank.parallel:
        return float(loss.detach())
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads] + [loss.detach().reshape(1)])
    dist.all_reduce(flat)
    flat /= rank.world
    offset = 0
    for param, grad in zip(params, grads, strict=True):
        n = grad.numel()
        param.grad = flat[offset : offset + n].view_as(grad)
        offset += n
    return float(flat[-1])


def gather_rng_states(
    rank: Rank, params: Sequence[torch.nn.Parameter]
) -> list[dict[str, torch.Tensor]] | None:
    """Every rank's RNG state, gathered on rank 0 (None elsewhere); a collective: all ranks call it.

    Also checks that the ranks still hold the same weights (they take identical steps, so any
    difference is a bug): raises RuntimeError on rank 0 when they diverged.
    """
    with torch.no_grad():
        checksum = float(sum(p.double().sum() for p in params))
    gathered = [None] * rank.world if rank.main else None
    dist.gather_object((serialize_rng_state(), checksum), gathered, dst=0)
    if not rank.main:
        return None
    sums = [s for _, s in gathered]
    if any(s != sums[0] for s in sums):
        raise RuntimeError(f"data-parallel ranks hold different weights (sums {sums})")
    return [state for state, _ in gathered]


def save_rank_rng_states(directory: Path, states: Sequence[dict[str, torch.Tensor]]) -> None:
    """Write the RNG states of ranks 1.. (rank 0's is LeRobot's own rng_state.safetensors)."""
    for index, state in enumerate(states[1:], start=1):
        save_file(state, str(Path(directory) / rank_rng_file(index)))


def restore_rank_rng_state(directory: Path, rank: Rank) -> None:
    """Load this rank's RNG state from a checkpoint written by a run with at least as many ranks."""
    deserialize_rng_state(load_file(str(Path(directory) / rank_rng_file(rank.index))))


def has_rank_rng_states(directory: Path, world: int) -> bool:
    """Whether a checkpoint's training state holds the RNG states of ranks 1 .. world - 1."""
    return all((Path(directory) / rank_rng_file(index)).is_file() for index in range(1, world))


def rank_rng_file(index: int) -> str:
    return f"rng_state_rank{index}.safetensors"


def launch(work: Callable[..., Any], world: int, *args: Any) -> Any:
    """Run ``work(rank, *args)`` in `world` processes (rank 0 here); returns rank 0's result.

    `work` must be a module-level function (the other ranks are started by the spawn method). A
    failing rank ends the run with its exit code.
    """
    if world < 2:
        return work(ALONE, *args)
    store_dir = Path(tempfile.mkdtemp(prefix="simreal-dp-"))
    store = str(store_dir / "store")
    context = torch.multiprocessing.get_context("spawn")
    ready = [context.Event() for _ in range(1, world)]
    others = [
        context.Process(
            target=_rank_main, args=(work, Rank(i, world), store, ready[i - 1], args), name=f"rank{i}"
        )
        for i in range(1, world)
    ]
    for process in others:
        process.start()
    finished = False
    try:
        _wait_until_started(others, ready)
        _join_group(Rank(0, world), store)
        result = work(Rank(0, world), *args)
        finished = True
        return result
    except (RuntimeError, dist.DistBackendError) as exc:
        for process in others:  # a rank that died closes its sockets a moment before it is reaped
            process.join(timeout=5)
        failed = [p for p in others if p.exitcode not in (None, 0)]
        if failed:
            codes = ", ".join(f"{p.name} exited with code {p.exitcode}" for p in failed)
            raise UserError(f"data-parallel training stopped: {codes} (its traceback is above)") from exc
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
        for process in others:
            process.join(timeout=60 if finished else 5)
            if process.is_alive():
                process.terminate()
                process.join()
        shutil.rmtree(store_dir, ignore_errors=True)


def _wait_until_started(others: Sequence[Any], ready: Sequence[Any]) -> None:
    """Block until every other rank is about to join the group: the group's rendezvous itself would
    wait out COLLECTIVE_TIMEOUT for a rank that died while starting."""
    for process, event in zip(others, ready, strict=True):
        while not event.wait(0.2):
            if not process.is_alive():
                raise UserError(
                    f"data-parallel training could not start: {process.name} exited with code "
                    f"{process.exitcode} (its traceback is above)"
                )


def _join_group(rank: Rank, store: str) -> None:
    dist.init_process_group(
        "gloo",
        init_method=f"file://{store}",
        rank=rank.index,
        world_size=rank.world,
        timeout=COLLECTIVE_TIMEOUT,
    )


def _rank_main(work: Callable[..., Any], rank: Rank, store: str, ready: Any, args: tuple) -> None:
    try:
        ready.set()
        _join_group(rank, store)
        work(rank, *args)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except UserError as exc:  # bad input: rank 0 meets it too and says it once, without a traceback
        print(f"rank{rank.index}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except BaseException:
        traceback.print_exc()
        raise SystemExit(1) from None
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()

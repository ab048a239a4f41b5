"""Time per training step of torch data parallelism (N replicas, DDP over gloo) against one process (N = 1),
and the share of a step the gradient all-reduce takes.

For each recipe, in one run: one process training the recipe on the whole global batch (the baseline:
`TorchSession`, the ordinary `lockstep run --backend torch`), then N processes training it as replicas
(`TorchReplicaSession`, what `lockstep run --replicas N` starts). Each measures the median wall time of
`--steps` optimizer steps after `--warmup` steps, every rank starting each step together (a barrier, not
timed); the all-reduce share is the median time of one all_reduce of a buffer as large as all the model's
gradients, in the same process group, over the median step. Threads: the machine's CPUs shared out (N = 1
gets all of them, each of N replicas 1/N), so both sides use the same cores.

Prints one row per (recipe, N) and, last, `ratio: X` = the median over recipes of step(N)/step(1) for the
largest N (below 1: data parallelism pays on this machine; it does not on 2 shared cores, see
docs/distributed.md).

    python benchmarks/data_parallel.py [--recipes digits-mlp,small-cnn] [--replicas 2] [--steps 30]
                                       [--warmup 5] [--batch-norm sync|local] [--device cpu|cuda]
                                       [--backend gloo|nccl] [--threads T] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the examples (lockstep itself is imported as installed)


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _worker(rank: int, size: int, port: int, recipe: str, batch_norm: str | None, steps: int, warmup: int,
            device: str, backend: str | None, threads: int | None, queue) -> None:
    import torch
    import torch.distributed as dist

    from lockstep.adapters.torch.distributed import TorchReplicaSession, init_process_group
    from lockstep.adapters.torch.session import TorchSession
    from lockstep.runner import masks_for, prepare_run

    torch.set_num_threads(threads or max(1, _cpus() // size))
    init_process_group(rank, size, device, f"tcp://127.0.0.1:{port}", backend=backend)
    shared = backend == "gloo" and device.startswith("cuda")  # every replica on the one GPU
    if device.startswith("cuda"):
        torch.cuda.set_device(0 if shared else rank)
    prep = prepare_run(recipe)
    if size == 1:  # the baseline: one process, the ordinary session, no DDP
        session = TorchSession(prep.model, dtype=prep.recipe.dtype, device=device, recipe=prep.recipe)
    else:
        dev = (f"cuda:{0 if shared else rank}") if device.startswith("cuda") else device
        session = TorchReplicaSession(prep.model, dtype=prep.recipe.dtype, device=dev, recipe=prep.recipe,
                                      replicas=size, batch_norm=batch_norm)
    session.set_parameters(prep.initial)
    batches = [prep.data.batch(s) for s in range(warmup + steps)]
    times = []
    for s, (_, x, y) in enumerate(batches):
        masks = masks_for(prep, s, len(x))
        dist.barrier()
        t0 = time.perf_counter()
        session.train_step(x, y, masks=masks)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if s >= warmup:
            times.append(time.perf_counter() - t0)
    numel = sum(p.numel() for p in session.params)
    buffer = torch.zeros(numel, dtype=session.dtype, device=session.device)
    reduce_times = []
    for _ in range(warmup + steps):
        dist.barrier()
        t0 = time.perf_counter()
        dist.all_reduce(buffer)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        reduce_times.append(time.perf_counter() - t0)
    if rank == 0:
        queue.put({"step": statistics.median(times), "all_reduce": statistics.median(reduce_times[warmup:]),
                   "parameters": numel, "batch": prep.recipe.data.batch_size, "threads": torch.get_num_threads()})
    dist.barrier()
    sys.stdout.flush()
    os._exit(0)  # not through the interpreter's exit, where gloo's threads can abort the process (SIGABRT)


def measure(recipe: Path, replicas: int, batch_norm: str | None, steps: int, warmup: int, device: str,
            backend: str | None = None, threads: int | None = None, repeats: int = 1) -> dict:
    """Rank 0's medians for `replicas` processes training `recipe` (the median run of `repeats`)."""
    runs = sorted((_measure_once(recipe, replicas, batch_norm, steps, warmup, device, backend, threads)
                   for _ in range(repeats)), key=lambda r: r["step"])
    return runs[len(runs) // 2]


def _measure_once(recipe: Path, replicas: int, batch_norm: str | None, steps: int, warmup: int, device: str,
                  backend: str | None, threads: int | None) -> dict:
    import torch.multiprocessing as mp

    from lockstep.distributed import free_port

    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    port = free_port()
    procs = [ctx.Process(target=_worker, args=(r, replicas, port, str(recipe), batch_norm, steps, warmup, device,
                                               backend, threads, queue)) for r in range(replicas)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    bad = [p.exitcode for p in procs if p.exitcode != 0]
    if bad:
        raise SystemExit(f"a replica failed (exit codes {bad})")
    return queue.get()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipes", default="digits-mlp,small-cnn")
    p.add_argument("--replicas", default="2", help="replica counts, comma-separated (default: 2)")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--batch-norm", default="sync", choices=("sync", "local"))
    p.add_argument("--device", default="cpu")
    p.add_argument("--backend", default=None, help="collective backend (default: nccl on cuda, gloo on cpu; gloo "
                                                    "with cuda puts every replica on GPU 0)")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads of every process (default: the "
                                                              "CPUs shared out)")
    p.add_argument("--repeats", type=int, default=3, help="runs of each measurement; the median run is shown")
    args = p.parse_args(argv)
    counts = [int(n) for n in args.replicas.split(",")]
    print(f"{_cpus()} CPUs; {args.steps} steps timed after {args.warmup}, median of {args.repeats} runs; batch norm "
          f"`{args.batch_norm}` "
          f"(where the model has one); device {args.device}; {args.backend or 'default'} collectives")
    print(f"{'recipe':<14} {'N':>2} {'threads':>7} {'batch':>5} {'params':>8} {'ms/step':>8} {'vs N=1':>7} "
          f"{'all-reduce ms':>13} {'share':>6}")
    ratios = []
    for name in args.recipes.split(","):
        recipe = ROOT / "examples" / name / "recipe.yaml"
        base = measure(recipe, 1, None, args.steps, args.warmup, args.device, args.backend, args.threads,
                       args.repeats)
        print(f"{name:<14} {1:>2} {base['threads']:>7} {base['batch']:>5} {base['parameters']:>8} "
              f"{base['step'] * 1e3:>8.2f} {1.0:>7.2f} {'-':>13} {'-':>6}")
        for n in counts:
            r = measure(recipe, n, args.batch_norm, args.steps, args.warmup, args.device, args.backend, args.threads,
                        args.repeats)
            ratio = r["step"] / base["step"]
            print(f"{name:<14} {n:>2} {r['threads']:>7} {r['batch']:>5} {r['parameters']:>8} {r['step'] * 1e3:>8.2f} "
                  f"{ratio:>7.2f} {r['all_reduce'] * 1e3:>13.3f} {r['all_reduce'] / r['step']:>6.1%}")
        ratios.append(ratio)
    print(f"ratio: {statistics.median(ratios):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

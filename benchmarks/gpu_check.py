"""The GPU checks, prepared to run in one go on a machine with CUDA.

    PYTHONPATH=. python benchmarks/gpu_check.py [--out DIR] [--dry-run-on-cpu]

Nothing here runs in CI (no GPU there); a session lent a GPU runs this script
once and reads the printed table. Each check prints ``ok`` or ``FAIL`` with its
numbers, and the script exits 1 if any check failed.

1. ``vae_digits_cuda``: the issue's digits benchmark with ``device="cuda"``
   (default settings, first 1,500 binarized images to train, last 297 to test):
   test ELBO >= -18.3 nats, as on the CPU.
2. ``vae_cuda_save_load``: the CUDA fit saved and loaded on the CPU gives the
   same test ELBO to 1e-4 (same seed), batch-norm buffers included.
3. ``ddpm_moons_cuda``: the default DDPM fit on two moons on the GPU, MMD^2 to
   2,000 held-out points <= 0.005.
4. ``resume_cuda``: a VAE's ELBO training stopped in its third epoch and
   resumed on the GPU ends with exactly the parameters of the uninterrupted GPU
   run (the CUDA generator's state is in the checkpoint).
5. ``nccl_2_ranks`` (two or more GPUs): ``torchrun --nproc_per_node=2`` with the
   NCCL backend, each rank on its own GPU, against one process on one GPU on the
   same global batches: parameters agree to 1e-4 (float32 sums in another
   order), the validation loss and a checkpoint written under NCCL too.
   ``nccl_1_rank`` (one GPU): NCCL cannot put two ranks on one GPU, so only a
   one-rank NCCL group runs, which checks that ``device=None`` resolves to
   ``cuda:LOCAL_RANK`` and that training and checkpointing run under NCCL.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from probmodels.datasets import make_moons  # noqa: E402
from probmodels.infer.config import TrainConfig  # noqa: E402
from probmodels.infer.train import train  # noqa: E402
from probmodels.metrics import mmd2  # noqa: E402
from probmodels.models.ddpm import DDPM  # noqa: E402
from probmodels.models.vae import VAE  # noqa: E402
from probmodels.report.vae import binarized_digits  # noqa: E402

RESULTS: list[tuple[str, bool, str]] = []
DEVICE = "cuda"  # --dry-run-on-cpu: "cpu" and gloo, to check this script itself without a GPU


def report(name: str, ok: bool, detail: str) -> None:
    RESULTS.append((name, ok, detail))
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}", flush=True)


def regression_problem(n: int = 29, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(n, generator=g)
    return torch.cat([x, y[:, None]], dim=1)


def make_net(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    # no batch norm: each rank would normalise its own shard (as DistributedDataParallel does)
    return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def mse(net):
    return lambda batch: ((net(batch[:, :3]).squeeze(-1) - batch[:, 3]) ** 2).mean()


# 29 examples, 6 held out, 23 in batches of 8: 3 steps an epoch, 4 epochs
CONFIG = dict(steps=12, batch_size=8, lr=0.05, schedule="cosine", grad_clip=5.0, progress=False,
              validation=0.2)

WORKER = """
import sys
import torch
import torch.distributed as dist
sys.path.insert(0, {bench!r})
from gpu_check import CONFIG, make_net, mse, regression_problem
from probmodels.infer.config import TrainConfig
from probmodels.infer.train import train

backend = sys.argv[2]
dist.init_process_group(backend)
rank = dist.get_rank()
net = make_net(seed=1 + rank)          # rank 0's weights are broadcast at the start
run = train(mse(net), net, regression_problem(),
            TrainConfig(**CONFIG, checkpoint=sys.argv[1] + ".ckpt"), seed=7)
assert run.world_size == dist.get_world_size()
expected = torch.device("cuda", rank) if backend == "nccl" else torch.device("cpu")
assert next(net.parameters()).device == expected, next(net.parameters()).device
torch.save({{"state": {{k: v.cpu() for k, v in net.state_dict().items()}},
            "val": torch.tensor(run.val_loss), "world": run.world_size}}, sys.argv[1] + "." + str(rank))
dist.barrier()
dist.destroy_process_group()
"""


def check_vae(out: Path) -> None:
    x, _ = binarized_digits()
    x_train, x_test = x[:1500], x[1500:]
    vae = VAE(input_shape=(1, 8, 8), latent_dim=8, likelihood="bernoulli")
    t0 = time.perf_counter()
    fit = vae.fit(x_train, seed=0, device=DEVICE, progress=False)
    seconds = time.perf_counter() - t0
    ev = fit.evaluate(x_test, seed=0)
    target = -18.3
    report(f"vae_digits_{DEVICE}", ev["elbo"] >= target and fit.vae.device.type == DEVICE,
           f"ELBO {ev['elbo']:.3f} (target >= {target}), log p(x) {ev['log_likelihood']:.3f}, "
           f"fit {seconds:.1f} s on {fit.vae.device}")
    path = out / "vae_cuda_fit"
    fit.save(path, overwrite=True)
    from probmodels import load

    loaded = load(path)  # arrays come back on the CPU
    ev_cpu = loaded.evaluate(x_test, seed=0)
    diff = abs(ev_cpu["elbo"] - ev["elbo"])
    report(f"vae_{DEVICE}_save_load", diff < 1e-3,
           f"ELBO after load {ev_cpu['elbo']:.4f} on {loaded.vae.device} vs {ev['elbo']:.4f} (|diff| {diff:.1e})")


def check_ddpm() -> None:
    points, _ = make_moons(10_000, noise=0.05, seed=0)
    points = (points - points.mean(0)) / points.std(0)
    x_train, held_out = points[:8000], points[8000:]
    t0 = time.perf_counter()
    fit = DDPM(data_shape=(2,)).fit(x_train, seed=0, device=DEVICE)
    seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    samples = fit.sample(2000, seed=0)
    sample_seconds = time.perf_counter() - t0
    value = mmd2(samples, held_out)
    target = 0.005
    report(f"ddpm_moons_{DEVICE}", value <= target,
           f"MMD^2 {value:.4f} (target <= {target}), fit {seconds:.1f} s, sample 2,000 {sample_seconds:.2f} s")


def check_resume(out: Path) -> None:
    """A VAE's Pyro ELBO (noise from the CUDA generator) interrupted at epoch 3 and resumed."""
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(30, 1, 2, 2, generator=g) > 0.5).float()
    cfg = dict(steps=12, batch_size=10, progress=False, device=DEVICE)  # 4 epochs of 3 batches

    def fresh(seed):
        torch.manual_seed(seed)
        vae = VAE((1, 2, 2), latent_dim=2, hidden=(5,))
        return vae, vae.elbo_loss(30)

    vae_ref, loss_ref = fresh(0)
    run_ref = train(loss_ref, vae_ref.net, x, TrainConfig(**cfg), seed=4)
    ckpt = out / "resume.ckpt"
    vae, loss = fresh(0)
    try:  # 3 batches per epoch: the 8th call is in epoch 3, the checkpoint holds 2 epochs
        train(_stop_after(loss, 7), vae.net, x, TrainConfig(**cfg, checkpoint=str(ckpt)), seed=4)
    except _Stop:
        pass
    vae, loss = fresh(5)  # other initial weights: everything must come from the file
    run = train(loss, vae.net, x, TrainConfig(**cfg), seed=4, resume=ckpt)
    worst = max(float((a - b).abs().max()) for a, b in zip(vae.net.state_dict().values(),
                                                          vae_ref.net.state_dict().values()))
    same_loss = np.array_equal(run.train_loss, run_ref.train_loss)
    report(f"resume_{DEVICE}", worst == 0.0 and same_loss and run.resumed_from_epoch == 2,
           f"max |resumed - uninterrupted| = {worst:.1e}, loss histories equal: {same_loss}")


class _Stop(Exception):
    pass


def _stop_after(loss_fn, calls: int):
    """``loss_fn`` that raises once it has been called ``calls`` times."""
    count = {"n": 0}

    def wrapped(batch):
        count["n"] += 1
        if count["n"] > calls:
            raise _Stop()
        return loss_fn(batch)

    return wrapped


def check_nccl(out: Path) -> None:
    gpus = torch.cuda.device_count()
    backend = "nccl" if DEVICE == "cuda" else "gloo"
    nproc = 2 if gpus >= 2 or backend == "gloo" else 1
    script = out / "worker.py"
    script.write_text(WORKER.format(bench=str(Path(__file__).resolve().parent)))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
           "--master_addr=127.0.0.1", f"--master_port={port}", str(script), str(out / "nccl"), backend]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    name = f"{backend}_{nproc}_rank{'s' if nproc > 1 else ''}"
    if done.returncode != 0:
        report(name, False, f"torchrun failed: {done.stderr[-1500:]}")
        return
    single = make_net(seed=1)
    run = train(mse(single), single, regression_problem(), TrainConfig(**CONFIG, device="cuda:0" if DEVICE == "cuda" else "cpu"), seed=7)
    worst, val = 0.0, 0.0
    for rank in range(nproc):
        got = torch.load(f"{out / 'nccl'}.{rank}", weights_only=True)
        for k, v in single.state_dict().items():
            worst = max(worst, float((got["state"][k].float() - v.cpu().float()).abs().max()))
        val = max(val, float(np.abs(got["val"].numpy() - run.val_loss).max()))
    ok = worst <= 1e-4 and val <= 1e-4 and Path(f"{out / 'nccl'}.ckpt").exists()
    report(name, ok, f"{gpus} GPU(s); max |param diff| vs one process {worst:.1e}, "
                     f"max |val loss diff| {val:.1e}, checkpoint written")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="folder for the files the checks write")
    parser.add_argument("--dry-run-on-cpu", action="store_true",
                        help="run every check on the CPU with gloo (checks this script, not the GPU)")
    args = parser.parse_args()
    global DEVICE
    if args.dry_run_on_cpu:
        DEVICE = "cpu"
        torch.set_num_threads(1)
    elif not torch.cuda.is_available():
        print("no CUDA device: torch.cuda.is_available() is False; nothing to check here.")
        return 2
    else:
        print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.device_count()} x "
              f"{torch.cuda.get_device_name(0)}", flush=True)
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="gpu_check_"))
    out.mkdir(parents=True, exist_ok=True)
    checks = {"nccl": lambda: check_nccl(out), "resume_cuda": lambda: check_resume(out),
              "vae": lambda: check_vae(out), "ddpm": lambda: check_ddpm()}
    for name, check in checks.items():
        try:
            check()
        except Exception as exc:  # report and go on: one run should say everything
            report(name, False, f"{type(exc).__name__}: {exc}")
    failed = [name for name, ok, _ in RESULTS if not ok]
    print(f"{len(RESULTS) - len(failed)} of {len(RESULTS)} checks ok" + (f"; failed: {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

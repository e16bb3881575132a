"""Tests for probmodels.infer.train: batching, steps and schedules, early stopping, the NaN
guards, the divergence warnings, exact checkpoint/resume, and data-parallel training against
one process."""

import math

import numpy as np
import pyro
import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from probmodels.infer import NonFiniteLossError
from probmodels.infer.config import TrainConfig
from probmodels.infer.train import ELBOLoss, train


@pytest.fixture(autouse=True)
def _clean():
    torch.manual_seed(0)
    pyro.clear_param_store()
    yield
    pyro.clear_param_store()


def regression_problem(n=29, seed=0):
    """A fixed regression data set: 3 inputs and 1 target per row, (n, 4)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(n, generator=g)
    return torch.cat([x, y[:, None]], dim=1)


def make_net(seed=1, batch_norm=False):
    torch.manual_seed(seed)
    layers = [nn.Linear(3, 8)] + ([nn.BatchNorm1d(8)] if batch_norm else []) + [nn.Tanh(), nn.Linear(8, 1)]
    return nn.Sequential(*layers)


def mse(net):
    return lambda batch: (net(batch[:, :3]).squeeze(-1) - batch[:, 3]).pow(2).mean()


def noisy_mse(net):
    """A stochastic loss (input noise from the global torch RNG), to test RNG restoring."""
    def loss(batch):
        noise = 0.1 * torch.randn(batch.shape[0], 3)
        return (net(batch[:, :3] + noise).squeeze(-1) - batch[:, 3]).pow(2).mean()
    return loss


# ------------------------------------------------------------------ batching


def test_each_epoch_visits_every_training_example_once_and_never_the_validation_ones():
    data = torch.arange(23.0)[:, None]
    seen = []
    net = nn.Linear(1, 1)
    loss = lambda b: (seen.append(b[:, 0].long().tolist()) or net(b).pow(2).mean())  # noqa: E731
    cfg = TrainConfig(steps=12, batch_size=5, validation=0.2, progress=False)
    run = train(loss, net, data, cfg, seed=3, val_loss_fn=lambda b: net(b).pow(2).mean())
    # 23 examples, 5 held out (round(0.2 * 23)), 18 train -> 4 batches per epoch (5, 5, 5, 3)
    assert (run.num_train, run.num_val, run.steps) == (18, 5, 12)
    epochs = [sum(seen[4 * e: 4 * e + 4], []) for e in range(3)]
    assert [len(b) for b in seen[:4]] == [5, 5, 5, 3]
    train_set = set(epochs[0])
    assert len(train_set) == 18 and all(sorted(e) == sorted(train_set) for e in epochs)
    assert epochs[0] != epochs[1]  # a fresh order each epoch
    # the same seed gives the same batches
    seen_again = list(seen)
    seen.clear()
    train(loss, net, data, cfg, seed=3, val_loss_fn=lambda b: net(b).pow(2).mean())
    assert seen == seen_again


def test_cosine_and_onecycle_schedules_end_near_zero_and_constant_stays():
    data = regression_problem()
    for schedule, expected in (("constant", 0.01), ("cosine", 0.0), ("onecycle", 0.0)):
        net = make_net()
        lrs = []
        opt_step = torch.optim.AdamW.step

        def spy(self, *a, **k):
            lrs.append(self.param_groups[0]["lr"])
            return opt_step(self, *a, **k)

        torch.optim.AdamW.step = spy
        try:
            train(mse(net), net, data, TrainConfig(steps=12, batch_size=10, lr=0.01, schedule=schedule,
                                                   progress=False), seed=0)
        finally:
            torch.optim.AdamW.step = opt_step
        assert len(lrs) == 12
        # the lr of the last step: cosine is lr * (1 + cos(pi * 11 / 12)) / 2
        if schedule == "cosine":
            assert lrs[-1] == pytest.approx(0.01 * (1 + math.cos(math.pi * 11 / 12)) / 2, rel=1e-6)
        elif schedule == "constant":
            assert lrs == [pytest.approx(expected)] * 12
        else:
            assert max(lrs) == pytest.approx(0.01, rel=0.05) and lrs[-1] < 1e-4


def test_steps_round_up_to_whole_epochs():
    # 29 examples in batches of 10: 3 batches per epoch
    for steps, epochs in ((1, 1), (3, 1), (7, 3), (9, 3), (10, 4)):
        net = make_net()
        run = train(mse(net), net, regression_problem(), TrainConfig(steps=steps, batch_size=10,
                                                                    progress=False), seed=0)
        assert (run.epochs, run.steps) == (epochs, 3 * epochs) == (math.ceil(steps / 3), 3 * epochs)


@pytest.mark.parametrize("schedule, lr_decay, final", [
    ("exponential", None, 0.1),  # the default decay of "exponential"
    ("exponential", 0.3, 0.3),
    ("cosine", None, 0.0),       # the default decay of "cosine"
    ("cosine", 0.2, 0.2),
])
def test_decaying_schedules_reach_lr_times_lr_decay_after_the_last_step(schedule, lr_decay, final):
    lrs, optimizers = [], []
    opt_step = torch.optim.AdamW.step

    def spy(self, *a, **k):
        lrs.append(self.param_groups[0]["lr"])
        optimizers.append(self)
        return opt_step(self, *a, **k)

    net = make_net()
    torch.optim.AdamW.step = spy
    try:
        # 29 examples, batches of 10: steps=10 is 4 epochs of 3 steps, T = 12 steps
        train(mse(net), net, regression_problem(), TrainConfig(steps=10, batch_size=10, lr=0.01,
              schedule=schedule, lr_decay=lr_decay, progress=False), seed=0)
    finally:
        torch.optim.AdamW.step = opt_step
    T = 12
    assert len(lrs) == T and lrs[0] == 0.01
    # the optimiser's rate after the last step: lr * lr_decay (float64 recurrences: 1e-12)
    assert optimizers[-1].param_groups[0]["lr"] == pytest.approx(0.01 * final, rel=1e-12, abs=1e-15)
    for t, lr in enumerate(lrs):
        if schedule == "exponential":  # lr * lr_decay ** (t / T)
            expected = 0.01 * final ** (t / T)
        else:  # eta_min + (lr - eta_min) (1 + cos(pi t / T)) / 2
            expected = 0.01 * final + 0.01 * (1 - final) * (1 + math.cos(math.pi * t / T)) / 2
        assert lr == pytest.approx(expected, rel=1e-12, abs=1e-15), t


# ------------------------------------------------------------ early stopping


def test_early_stopping_stops_after_patience_and_restores_the_best_weights():
    data = regression_problem()
    net = make_net()
    scripted = iter([5.0, 4.0, 3.0, 3.5, 3.25, 9.0, 9.0])  # exact in float32
    snapshots = []

    def val_loss(batch):
        snapshots.append({k: v.clone() for k, v in net.state_dict().items()})
        return torch.tensor(next(scripted))

    cfg = TrainConfig(steps=20, batch_size=64, validation=0.3, patience=2, progress=False)
    run = train(mse(net), net, data, cfg, seed=0, val_loss_fn=val_loss)
    # the validation set (9 examples) is one batch: one val_loss call per epoch
    assert run.stopped_early and run.epochs == 5 and run.best_epoch == 2
    np.testing.assert_array_equal(run.val_loss, [5.0, 4.0, 3.0, 3.5, 3.25])
    for k, v in net.state_dict().items():
        assert torch.equal(v, snapshots[2][k])
    assert not torch.equal(snapshots[2]["0.weight"], snapshots[4]["0.weight"])


def test_ema_weights_are_the_final_weights_without_validation():
    data = regression_problem()
    net, shadow = make_net(), make_net()
    cfg = TrainConfig(steps=6, batch_size=10, ema_decay=0.8, progress=False)
    live = {}

    def loss(batch):
        out = mse(net)(batch)
        return out

    # EMA by hand: shadow <- 0.8 shadow + 0.2 theta after every step
    opt_step = torch.optim.AdamW.step

    def spy(self, *a, **k):
        result = opt_step(self, *a, **k)
        with torch.no_grad():
            for (name, p), s in zip(net.named_parameters(), shadow.parameters()):
                s.mul_(0.8).add_(0.2 * p)
                live[name] = p.detach().clone()
        return result

    torch.optim.AdamW.step = spy
    try:
        train(loss, net, data, cfg, seed=0)
    finally:
        torch.optim.AdamW.step = opt_step
    for p, s in zip(net.parameters(), shadow.parameters()):
        torch.testing.assert_close(p, s, rtol=1e-6, atol=1e-7)  # float32 recurrences
    assert not torch.equal(net[0].weight, live["0.weight"])


# ----------------------------------------------------- divergence warnings


class Centre(nn.Module):
    """theta in R^3 for the quadratic loss mean over the batch of ||x - theta||^2."""

    def __init__(self, start=0.1):
        super().__init__()
        self.theta = nn.Parameter(torch.full((3,), start))


def quadratic(m):
    return lambda batch: (batch - m.theta).pow(2).sum(-1).mean()


def test_a_diverging_quadratic_warns_that_the_training_loss_rose():
    data = torch.randn(40, 3, generator=torch.Generator().manual_seed(0))
    # AdamW's decoupled decay multiplies theta by 1 - lr * weight_decay = -2 at every step
    m = Centre()
    cfg = TrainConfig(steps=40, batch_size=10, lr=10.0, weight_decay=0.3, schedule="constant",
                      progress=False)
    with pytest.warns(UserWarning, match=r"training loss rose: the mean loss per example of the last "
                                         r"epoch is [0-9.e+]+ against [0-9.e+]+ in the first \(epochs "
                                         r"7-9 all above .*Lower the learning rate \(got lr=10; try "
                                         r"lr=1\) or pass grad_clip=1.0"):
        run = train(quadratic(m), m, data, cfg, seed=0)
    assert run.train_loss[-1] > 1e20  # the warning is about a real divergence
    # the same problem at a sane rate is quiet (warnings are errors in this suite)
    m = Centre()
    run = train(quadratic(m), m, data, TrainConfig(steps=40, batch_size=10, lr=0.01, schedule="constant",
                                                   progress=False), seed=0)
    assert run.train_loss[-1] < run.train_loss[0]


def test_a_loss_blown_up_in_the_first_epoch_is_measured_against_the_initial_weights():
    # deterministic loss ||theta - 1||^2 from theta = 0.9: 0.03 at the start; Adam's first
    # steps of size lr = 10 throw theta far away, so every epoch's mean, the first's
    # included, is huge and the loss comes down from there: only the start tells
    m = Centre(start=0.9)

    def loss(batch):
        return (m.theta - 1.0).pow(2).sum() + 0.0 * batch.sum()

    with pytest.warns(UserWarning, match=r"training loss rose: .* against 0.03 on the first batch at the "
                                         r"initial weights \(over 3 times its magnitude; [0-9.e+]+ in "
                                         r"the first epoch\).*worse than no training"):
        run = train(loss, m, torch.zeros(40, 3), TrainConfig(steps=40, batch_size=10, lr=10.0,
                                                               schedule="constant", progress=False), seed=0)
    assert run.train_loss[-1] < run.train_loss[0] and run.train_loss[-1] > 0.09


def scripted_validation(values):
    it = iter(values)
    return lambda batch: torch.tensor(next(it))


@pytest.mark.parametrize("values, match", [
    # ends above 3 times its best (1.0 after epoch 1)
    ([5.0, 1.0, 1.5, 2.0, 4.0, 8.0],
     r"validation loss diverged: 8 after the last epoch against its best 1 after epoch 1 \(over 3 "
     r"times the best's magnitude\); the weights of epoch 1 were kept. Lower the learning rate"),
    # rose at each of the last 5 checks, by 0.5 = 50% of the best
    ([5.0, 1.0, 1.125, 1.25, 1.375, 1.5, 1.5625, 1.625],
     r"validation loss grew steadily: it rose at each of the last 5 epochs, to 1.625 against its "
     r"best 1 after epoch 1; the weights of epoch 1 were kept. Lower the learning rate"),
])
def test_a_diverging_validation_loss_warns(values, match):
    net = make_net()
    cfg = TrainConfig(steps=len(values), batch_size=64, validation=0.3, progress=False)
    with pytest.warns(UserWarning, match=match):
        run = train(mse(net), net, regression_problem(), cfg, seed=0, val_loss_fn=scripted_validation(values))
    assert run.best_epoch == 1


@pytest.mark.parametrize("values", [
    [5.0, 1.0, 1.25, 1.125, 1.375, 1.25, 1.5, 1.375],  # overfitting noise: up and down
    [5.0, 1.0, 1.015625, 1.03125, 1.046875, 1.0625, 1.078125],  # steady but 8% in all
    [5.0, 1.0, 2.5, 2.75],  # 2.75 times the best
])
def test_a_validation_loss_that_only_wobbles_after_its_best_is_quiet(values):
    net = make_net()
    cfg = TrainConfig(steps=len(values), batch_size=64, validation=0.3, progress=False)
    run = train(mse(net), net, regression_problem(), cfg, seed=0, val_loss_fn=scripted_validation(values))
    np.testing.assert_array_equal(run.val_loss, values)


# ---------------------------------------------------------------- NaN guard


def test_nonfinite_loss_stops_with_epoch_and_step():
    data = regression_problem(n=40)
    net = make_net()
    calls = {"n": 0}

    def loss(batch):
        calls["n"] += 1
        value = mse(net)(batch)
        return value * float("nan") if calls["n"] == 7 else value

    with pytest.raises(NonFiniteLossError, match=r"became nan at epoch 1 \(of 5\), step 6 \(batch 2"):
        train(loss, net, data, TrainConfig(steps=20, batch_size=10, progress=False), seed=0)


def test_nonfinite_validation_loss_names_the_epoch_and_the_rows():
    # the value of each row is its position in data; rows divisible by 3 turn NaN from
    # the third validation check on
    data = torch.arange(30.0)[:, None]
    net = nn.Linear(1, 1)
    checks = []

    def val_loss(batch):
        if batch.shape[0] > 1:
            checks.append(batch[:, 0].long().tolist())
        bad = (batch[:, 0] % 3 == 0) & (len(checks) >= 3)
        return torch.where(bad, torch.tensor(float("nan")), net(batch)[:, 0].pow(2)).mean()

    cfg = TrainConfig(steps=8, batch_size=64, lr=1e-3, validation=0.3, progress=False)
    with pytest.raises(NonFiniteLossError) as info:
        train(lambda b: net(b).pow(2).mean(), net, data, cfg, seed=0, val_loss_fn=val_loss)
    rows = checks[0]  # the 9 validation examples, one batch
    bad = [r for r in rows if r % 3 == 0]
    assert len(rows) == 9 and len(checks) == 3 and bad
    assert str(info.value).startswith(
        f"validation loss became nan at epoch 2 (of 8) in the batch of validation rows {rows} "
        f"(positions along the first axis of data); rows {bad} give a non-finite loss on their own."
    )
    assert "best-weight selection and early stopping" in str(info.value)
    assert "check those examples of data for NaN" in str(info.value)


def test_nonfinite_elbo_names_the_pyro_site():
    from probmodels.models.vae import VAE

    vae = VAE((1, 2, 2), latent_dim=2, likelihood="gaussian", hidden=(4,))
    x = torch.zeros(6, 1, 2, 2)
    x[3, 0, 0, 0] = 3e38  # squared error overflows in the likelihood of x
    loss = ELBOLoss(vae.model, vae.guide, num_data=6)
    with pytest.raises(NonFiniteLossError, match=r"epoch 0 .*step 0 .*site '(x|z)'"):
        train(loss, vae.net, x, TrainConfig(steps=1, batch_size=6, progress=False), seed=0)


def test_config_errors_say_how_to_fix():
    with pytest.raises(ValueError, match="schedule must be one of 'constant', 'cosine', 'exponential', 'onecycle'"):
        TrainConfig(schedule="step")
    with pytest.raises(ValueError, match="patience=5 needs a validation set.*validation=0.1"):
        TrainConfig(patience=5)
    with pytest.raises(ValueError, match=r"validation must be None or a fraction in \(0, 1\)"):
        TrainConfig(validation=1.5)
    with pytest.raises(ValueError, match=r"ema_decay must be in \[0, 1\)"):
        TrainConfig(ema_decay=1.0)
    with pytest.raises(ValueError, match="leaves none to train on"):
        train(lambda b: b.sum(), nn.Linear(1, 1), torch.zeros(1, 1),
              TrainConfig(validation=0.9, progress=False), seed=0)


# ------------------------------------------------------------ checkpoints


class Crash(RuntimeError):
    pass


def crash_after(loss_fn, calls):
    state = {"n": 0}

    def loss(batch):
        state["n"] += 1
        if state["n"] > calls:
            raise Crash("simulated interruption")
        return loss_fn(batch)
    return loss


def test_resume_gives_exactly_the_uninterrupted_run(tmp_path):
    data = regression_problem(n=50)
    cfg = dict(steps=30, batch_size=8, lr=0.02, schedule="onecycle", validation=0.2,
               ema_decay=0.9, grad_clip=1.0, progress=False)
    # batch norm (buffers), noise (RNG), EMA, onecycle schedule and validation all in play
    ref = make_net(batch_norm=True)
    run_ref = train(noisy_mse(ref), ref, data, TrainConfig(**cfg), seed=11)

    ckpt = tmp_path / "run.pt"
    net = make_net(batch_norm=True)
    # 40 train examples: 5 loss calls per epoch plus 2 for the 10 validation examples;
    # the 17th call is in the 3rd epoch, so the checkpoint holds 2 epochs
    with pytest.raises(Crash):
        train(crash_after(noisy_mse(net), 17), net, data,
              TrainConfig(**cfg, checkpoint=ckpt), seed=11)
    fresh = make_net(seed=99, batch_norm=True)  # other initial weights: all must come from the file
    run = train(noisy_mse(fresh), fresh, data, TrainConfig(**cfg, checkpoint=ckpt), seed=11, resume=ckpt)
    assert run.resumed_from_epoch == 2 and run.steps == run_ref.steps == 30
    np.testing.assert_array_equal(run.train_loss, run_ref.train_loss)
    np.testing.assert_array_equal(run.val_loss, run_ref.val_loss)
    assert run.best_epoch == run_ref.best_epoch
    for (k, v), (k2, v2) in zip(fresh.state_dict().items(), ref.state_dict().items()):
        assert k == k2 and torch.equal(v, v2), k  # running_mean / running_var included


def test_resume_of_a_pyro_elbo_run_is_exact(tmp_path):
    from probmodels.models.vae import VAE

    x = (torch.rand(30, 1, 2, 2, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    cfg = dict(steps=12, batch_size=10, progress=False)

    def fresh(seed):
        torch.manual_seed(seed)
        vae = VAE((1, 2, 2), latent_dim=2, hidden=(5,))
        return vae, vae.elbo_loss(30)

    vae_ref, loss_ref = fresh(0)
    run_ref = train(loss_ref, vae_ref.net, x, TrainConfig(**cfg), seed=4)
    ckpt = tmp_path / "vae.pt"
    vae, loss = fresh(0)
    with pytest.raises(Crash):
        train(crash_after(loss, 7), vae.net, x, TrainConfig(**cfg, checkpoint=ckpt), seed=4)
    vae, loss = fresh(5)
    run = train(loss, vae.net, x, TrainConfig(**cfg), seed=4, resume=ckpt)
    np.testing.assert_array_equal(run.train_loss, run_ref.train_loss)
    for v, v2 in zip(vae.net.state_dict().values(), vae_ref.net.state_dict().values()):
        assert torch.equal(v, v2)


def test_resume_with_other_options_is_refused(tmp_path):
    data = regression_problem()
    net = make_net()
    ckpt = tmp_path / "c.pt"
    train(mse(net), net, data, TrainConfig(steps=6, batch_size=10, progress=False, checkpoint=ckpt), seed=0)
    with pytest.raises(ValueError, match="Resume with the same options"):
        train(mse(net), net, data, TrainConfig(steps=9, batch_size=10, progress=False), seed=0, resume=ckpt)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        train(mse(net), net, data, TrainConfig(progress=False), seed=0, resume=tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a probmodels training checkpoint"):
        train(mse(net), net, data, TrainConfig(progress=False), seed=0, resume=tmp_path / "junk.pt")


# ----------------------------------------------------------- data parallel


DDP_CONFIG = dict(steps=12, batch_size=8, lr=0.05, schedule="cosine", grad_clip=5.0, progress=False)

# A rank killed by a signal is a C++ abort inside torch's gloo backend, never a Python
# error of ours (those exit with code 1 and a traceback). Such an abort ("terminate
# called without an active exception", SIGABRT) was seen twice in full runs of this suite
# on 2-core machines, once in the spawned and once in the torchrun test, and in none of
# 212 launches of the torchrun test alone (also with the cores oversubscribed), so its
# place is not known. The launchers below retry a launch once when a rank dies by a
# signal and print the first attempt's Python stacks (faulthandler) and rank logs; wrong
# numbers, Python errors and a second abort still fail.
_LAUNCH_ATTEMPTS = 2


def _spawn_two_ranks(worker, tmp_path, *args):
    """``mp.spawn(worker, (rank, 2, store, out, *args))`` on a fresh store and output folder
    per attempt (see _LAUNCH_ATTEMPTS); returns the output folder of the attempt that ran."""
    import sys

    for attempt in range(_LAUNCH_ATTEMPTS):
        out = tmp_path / f"attempt{attempt}"
        out.mkdir()
        try:
            mp.spawn(_faulthandled, args=(worker, 2, str(out / "store"), str(out), *args), nprocs=2, join=True)
            return out
        except mp.ProcessExitedException as exc:
            if exc.signal_name is None or attempt + 1 == _LAUNCH_ATTEMPTS:
                raise
            print(f"attempt {attempt}: a rank died by {exc.signal_name} ({exc}); launching again",
                  file=sys.stderr)
    raise AssertionError("unreachable")


def _faulthandled(rank, worker, *args):
    import faulthandler

    faulthandler.enable()  # a C++ abort prints every thread's Python stack to stderr
    worker(rank, *args)


def _ddp_worker(rank: int, world: int, store: str, out: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        # rank 1 starts from other weights: rank 0's are broadcast at the start
        net = make_net(seed=1 + rank)
        run = train(mse(net), net, regression_problem(), TrainConfig(**DDP_CONFIG), seed=7)
        torch.save({"state": net.state_dict(), "loss": torch.tensor(run.train_loss),
                    "world": run.world_size}, f"{out}/out.{rank}")
        dist.barrier()
    finally:
        dist.destroy_process_group()


def test_two_gloo_processes_match_one_process_on_the_same_global_batches(tmp_path):
    # 29 examples, global batch 8: the last batch of 5 splits 3 / 2 between the ranks
    out = _spawn_two_ranks(_ddp_worker, tmp_path)
    single = make_net(seed=1)
    run = train(mse(single), single, regression_problem(), TrainConfig(**DDP_CONFIG), seed=7)
    for rank in (0, 1):
        got = torch.load(out / f"out.{rank}", weights_only=True)
        assert got["world"] == 2
        for k, v in single.state_dict().items():
            # same arithmetic up to the order of float32 sums over ranks
            torch.testing.assert_close(got["state"][k], v, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got["loss"].numpy(), run.train_loss, rtol=1e-5)


_TORCHRUN_SCRIPT = """
import sys
import torch
import torch.distributed as dist
sys.path.insert(0, {tests!r})
from test_train import DDP_CONFIG, make_net, mse, regression_problem
from probmodels.infer.config import TrainConfig
from probmodels.infer.train import train

torch.set_num_threads(1)
dist.init_process_group("gloo")  # rank, world size and address come from torchrun
rank = dist.get_rank()
print("rank", rank, "initialised", flush=True)
net = make_net(seed=1 + rank)
run = train(mse(net), net, regression_problem(), TrainConfig(**DDP_CONFIG), seed=7)
print("rank", rank, "trained", flush=True)
torch.save({{"state": net.state_dict(), "world": run.world_size}}, sys.argv[1] + "." + str(rank))
dist.barrier()
dist.destroy_process_group()
print("rank", rank, "destroyed the process group", flush=True)
"""


def _torchrun_two_ranks(script_text, tmp_path):
    """``torchrun --nproc_per_node=2 script.py OUT`` (gloo on CPU) with rank logs under
    ``attemptK/logs``; retried once when a rank dies by a signal (see _LAUNCH_ATTEMPTS).
    Returns OUT of the attempt that ran."""
    import os
    import re
    import socket
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
           "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}
    report = []
    for attempt in range(_LAUNCH_ATTEMPTS):
        work = tmp_path / f"attempt{attempt}"
        work.mkdir()
        script = work / "script.py"
        script.write_text(script_text)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
               "--master_addr=127.0.0.1", f"--master_port={port}", "--redirects=3",
               f"--log-dir={work / 'logs'}", str(script), str(work / "out")]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        if done.returncode == 0:
            return work / "out"
        logs = "".join(f"--- {f.relative_to(work)}\n{f.read_text(errors='replace')[-4000:]}\n"
                       for f in sorted((work / "logs").rglob("*.log")))
        report.append(f"attempt {attempt} (exit {done.returncode}):\n{done.stderr[-3000:]}\n{logs}")
        killed = re.search(r"exitcode\s*:\s*-\d+", done.stderr) is not None
        if not killed:
            break
        print(report[-1] + "\nlaunching again", file=sys.stderr)
    raise AssertionError("\n".join(report))


def test_training_started_by_torchrun_matches_one_process(tmp_path):
    """The documented launch: `torchrun --nproc_per_node=2 script.py`, gloo on CPU."""
    from pathlib import Path

    out = _torchrun_two_ranks(_TORCHRUN_SCRIPT.format(tests=str(Path(__file__).parent)), tmp_path)
    single = make_net(seed=1)
    train(mse(single), single, regression_problem(), TrainConfig(**DDP_CONFIG), seed=7)
    for rank in (0, 1):
        got = torch.load(f"{out}.{rank}", weights_only=True)
        assert got["world"] == 2
        for k, v in single.state_dict().items():
            torch.testing.assert_close(got["state"][k], v, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------- devices


def test_resolve_device_defaults_and_errors(monkeypatch):
    from probmodels.infer.runtime import resolve_device

    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="device must be None, 'cpu', 'cuda'"):
        resolve_device("gpu0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="asks for a GPU but torch.cuda.is_available"):
        resolve_device("cuda")


def test_resolve_device_in_an_nccl_process_group_is_the_local_rank_gpu(monkeypatch):
    """What torchrun sets up on a GPU node: LOCAL_RANK picks the device (no GPU needed here)."""
    import torch.distributed as dist

    from probmodels.infer.runtime import resolve_device

    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_backend", lambda *a: "nccl")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert resolve_device(None) == torch.device("cuda", 3)
    assert resolve_device("cuda") == torch.device("cuda", 3)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)  # explicit index wins
    monkeypatch.setattr(dist, "get_backend", lambda *a: "gloo")
    assert resolve_device(None) == torch.device("cpu")


def test_model_fits_name_the_missing_gpu(monkeypatch):
    from probmodels.models.ddpm import DDPM
    from probmodels.models.vae import VAE

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    x = (torch.rand(20, 1, 8, 8) > 0.5).float()
    with pytest.raises(ValueError, match="asks for a GPU"):
        VAE(input_shape=(1, 8, 8), latent_dim=2).fit(x, steps=1, seed=0, device="cuda", progress=False)
    with pytest.raises(ValueError, match="asks for a GPU"):
        DDPM(data_shape=(2,), timesteps=10).fit(torch.randn(20, 2), steps=1, seed=0, device="cuda",
                                                progress=False)


# ------------------------------------------- safety: files, random states, batch norm


def test_checkpoint_never_replaces_an_existing_file_unless_it_is_resumed(tmp_path):
    data = regression_problem()
    user_file = tmp_path / "weights.pt"
    user_file.write_text("my precious weights")
    with pytest.raises(FileExistsError, match="already exists and this run would replace it.*resume="):
        train(mse(make_net()), make_net(), data, TrainConfig(steps=1, progress=False, checkpoint=user_file),
              seed=0)
    assert user_file.read_text() == "my precious weights"
    # an earlier run's checkpoint is saved work too; resuming that same file may update it
    ckpt = tmp_path / "run.pt"
    net = make_net()
    train(mse(net), net, data, TrainConfig(steps=6, batch_size=10, progress=False, checkpoint=ckpt), seed=0)
    with pytest.raises(FileExistsError):
        train(mse(net), net, data, TrainConfig(steps=6, batch_size=10, progress=False, checkpoint=ckpt), seed=0)
    run = train(mse(net), net, data, TrainConfig(steps=6, batch_size=10, progress=False, checkpoint=ckpt),
                seed=0, resume=ckpt)
    assert run.resumed_from_epoch == 2


def test_a_missing_checkpoint_folder_fails_before_the_first_epoch(tmp_path):
    calls = []
    net = make_net()

    def loss(batch):
        calls.append(1)
        return mse(net)(batch)

    with pytest.raises(FileNotFoundError, match="the folder .*nope.* does not exist"):
        train(loss, net, regression_problem(), TrainConfig(steps=3, checkpoint=tmp_path / "nope" / "c.pt",
                                                           progress=False), seed=0)
    assert calls == []
    with pytest.raises(IsADirectoryError, match="is a folder"):
        train(loss, net, regression_problem(), TrainConfig(steps=1, checkpoint=tmp_path, progress=False), seed=0)


def test_resume_refuses_other_data_and_another_fingerprint(tmp_path):
    data = regression_problem()
    ckpt = tmp_path / "run.pt"
    net = make_net()
    cfg = TrainConfig(steps=6, batch_size=10, progress=False, checkpoint=ckpt)
    train(mse(net), net, data, cfg, seed=0, fingerprint={"model": "A", "width": (8,)})
    other = data.clone()
    other[3, 1] += 1.0
    with pytest.raises(ValueError, match=r"belongs to another run: data \[29, 4\] float32 \(hash"):
        train(mse(net), net, other, cfg, seed=0, resume=ckpt, fingerprint={"model": "A", "width": (8,)})
    with pytest.raises(ValueError, match=r"belongs to another run: width=\[8\] then, \[16\] now"):
        train(mse(net), net, data, cfg, seed=0, resume=ckpt, fingerprint={"model": "A", "width": (16,)})
    run = train(mse(net), net, data, cfg, seed=0, resume=ckpt, fingerprint={"model": "A", "width": [8]})
    assert run.resumed_from_epoch == 2


def test_train_restores_the_callers_random_states():
    import random

    draws = []
    for user_seed in (1, 2):
        net = make_net()  # (seeds torch itself)
        random.seed(user_seed)
        np.random.seed(user_seed)
        torch.manual_seed(user_seed)
        expected = (random.random(), float(np.random.rand()), float(torch.rand(())))
        random.seed(user_seed)
        np.random.seed(user_seed)
        torch.manual_seed(user_seed)
        train(noisy_mse(net), net, regression_problem(), TrainConfig(steps=1, progress=False), seed=0)
        draws.append((random.random(), float(np.random.rand()), float(torch.rand(()))))
        assert draws[-1] == expected
    assert draws[0] != draws[1]


def test_batch_norm_gets_no_batch_of_one():
    # 29 examples in batches of 7: 7, 7, 7, 7, 1 -> the last example joins the fourth batch
    sizes = []
    net = make_net(batch_norm=True)

    def loss(batch):
        sizes.append(batch.shape[0])
        return mse(net)(batch)

    run = train(loss, net, regression_problem(), TrainConfig(steps=8, batch_size=7, progress=False), seed=0)
    assert sizes == [7, 7, 7, 8] * 2 and run.steps == 8
    # without batch norm the batch of one stays (plain minibatching)
    sizes.clear()
    plain = make_net()
    train(lambda b: sizes.append(b.shape[0]) or mse(plain)(b), plain, regression_problem(),
          TrainConfig(steps=5, batch_size=7, progress=False), seed=0)
    assert sizes == [7, 7, 7, 7, 1]
    with pytest.raises(ValueError, match="batch norm, which cannot normalise a batch of one"):
        train(mse(net), net, regression_problem(n=2), TrainConfig(validation=0.5, progress=False), seed=0)


def test_ema_averages_batch_norm_statistics_with_the_weights():
    data = regression_problem(n=40)
    net, shadow = make_net(batch_norm=True), make_net(batch_norm=True)
    opt_step = torch.optim.AdamW.step

    def spy(self, *a, **k):
        result = opt_step(self, *a, **k)
        with torch.no_grad():  # shadow <- 0.7 shadow + 0.3 live, buffers included
            for (name, t), s in zip(net.state_dict().items(), shadow.state_dict().values()):
                if t.is_floating_point():
                    s.mul_(0.7).add_(0.3 * t)
        return result

    torch.optim.AdamW.step = spy
    try:
        train(mse(net), net, data, TrainConfig(steps=12, batch_size=10, ema_decay=0.7, progress=False), seed=0)
    finally:
        torch.optim.AdamW.step = opt_step
    for name, s in shadow.state_dict().items():
        if s.is_floating_point():
            torch.testing.assert_close(net.state_dict()[name], s, rtol=1e-6, atol=1e-7, msg=name)
    assert not torch.equal(net[1].running_mean, torch.zeros(8))


def _missing_folder_worker(rank: int, world: int, store: str, out: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        net = make_net()
        try:
            train(mse(net), net, regression_problem(), TrainConfig(**DDP_CONFIG, checkpoint=f"{out}/nope/c.pt"),
                  seed=7)
            outcome = "trained"
        except FileNotFoundError as exc:
            outcome = f"FileNotFoundError: {exc}"
        with open(f"{out}/outcome.{rank}", "w") as fh:
            fh.write(outcome)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def test_every_rank_stops_when_rank_0_cannot_write_its_checkpoint(tmp_path):
    out = _spawn_two_ranks(_missing_folder_worker, tmp_path)
    assert (out / "outcome.0").read_text().startswith("FileNotFoundError: checkpoint=")
    assert (out / "outcome.1").read_text().startswith("FileNotFoundError: rank 0: checkpoint=")


def test_data_fingerprint_hashes_any_dtype_by_its_bytes():
    from probmodels.infer._checkpoint import data_fingerprint

    x = torch.randn(5, 3)
    a, b = data_fingerprint(x.bfloat16()), data_fingerprint(x)
    assert a["dtype"] == "bfloat16" and b["dtype"] == "float32" and a["blake2b"] != b["blake2b"]
    import hashlib
    assert b["blake2b"] == hashlib.blake2b(x.numpy().tobytes(), digest_size=16).hexdigest()

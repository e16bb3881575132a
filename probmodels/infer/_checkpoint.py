"""The training checkpoint file of :func:`probmodels.infer.train.train`: its format, the
random states it records, the fingerprint of what the run depends on, and the checks
made before a run writes or resumes one (the module docstring of ``train`` describes
what a checkpoint holds and guarantees)."""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "CHECKPOINT_FORMAT",
    "check_belongs",
    "check_checkpoint_path",
    "data_fingerprint",
    "load_checkpoint",
    "on_cpu",
    "rng_state",
    "set_rng_state",
]

CHECKPOINT_FORMAT = 2  # 2: data and model fingerprints; EMA of float buffers


def rng_state(device: torch.device) -> dict[str, Any]:
    """Python's, numpy's and torch's random states (and ``device``'s CUDA one), as tensors,
    numbers and strings that ``torch.load(weights_only=True)`` reads back."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "numpy_pos": int(pos),
        "numpy_has_gauss": int(has_gauss),
        "numpy_cached": float(cached),
        "python": random.getstate(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    """Put back the random states :func:`rng_state` took."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(
        (
            "MT19937",
            state["numpy_keys"].numpy().astype(np.uint32),
            state["numpy_pos"],
            state["numpy_has_gauss"],
            state["numpy_cached"],
        )
    )
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def on_cpu(state: dict[str, torch.Tensor] | None) -> dict[str, torch.Tensor] | None:
    """A state dict's tensors on the CPU (checkpoints load on any machine)."""
    return None if state is None else {k: v.detach().cpu() for k, v in state.items()}


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint at ``path`` (tensors, numbers and strings only), its format checked."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"resume={str(path)!r} does not exist; pass the checkpoint= path of an earlier run."
        )
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(
            f"{path} is not a probmodels training checkpoint ({type(exc).__name__}: {exc}); "
            f"expected a file written by train(..., config=TrainConfig(checkpoint=...))."
        ) from exc
    if (
        isinstance(ckpt, dict)
        and isinstance(ckpt.get("format"), int)
        and ckpt["format"] != CHECKPOINT_FORMAT
    ):
        raise ValueError(
            f"{path} is a probmodels training checkpoint of format {ckpt['format']}; this version "
            f"reads format {CHECKPOINT_FORMAT} only. Start the run afresh (without resume=)."
        )
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path} is not a probmodels training checkpoint of format {CHECKPOINT_FORMAT}; "
            f"expected a file written by train(..., config=TrainConfig(checkpoint=...))."
        )
    return ckpt


def check_checkpoint_path(checkpoint: str | os.PathLike, resume: str | os.PathLike | None) -> None:
    """Fail before the first epoch, not after the last, and never replace a file unasked."""
    path = Path(checkpoint)
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"checkpoint={str(path)!r}: the folder {str(path.parent)!r} does not exist. Create it "
            f"first (the checkpoint is written there at the end of epochs)."
        )
    if path.is_dir():
        raise IsADirectoryError(
            f"checkpoint={str(path)!r} is a folder; pass a file path such as "
            f"{str(path / 'run.pt')!r}."
        )
    if path.exists() and (resume is None or Path(resume).resolve() != path.resolve()):
        raise FileExistsError(
            f"checkpoint={str(path)!r} already exists and this run would replace it. To continue "
            f"that run pass resume={str(path)!r} as well; otherwise choose another path or delete "
            f"the file yourself."
        )


def data_fingerprint(data: torch.Tensor) -> dict[str, Any]:
    """Shape, dtype and a BLAKE2 hash of the bytes of ``data``."""
    flat = data.detach().cpu().contiguous()
    # the raw bytes, hashed in place (any dtype, bfloat16 included; no copy on the CPU)
    raw = flat.reshape(-1).view(torch.uint8).numpy()
    return {
        "shape": list(flat.shape),
        "dtype": str(flat.dtype).removeprefix("torch."),
        "blake2b": hashlib.blake2b(raw.data, digest_size=16).hexdigest(),
    }


def _fingerprint_mismatch(path, then: dict[str, Any], now: dict[str, Any]) -> ValueError:
    what = []
    if then["data"] != now["data"]:
        what.append(
            f"data {then['data']['shape']} {then['data']['dtype']} (hash "
            f"{then['data']['blake2b'][:8]}) then, {now['data']['shape']} "
            f"{now['data']['dtype']} (hash {now['data']['blake2b'][:8]}) now"
        )
    keys = sorted(set(then["caller"]) | set(now["caller"]))
    what += [
        f"{k}={then['caller'].get(k, '<unset>')!r} then, {now['caller'].get(k, '<unset>')!r} now"
        for k in keys
        if then["caller"].get(k) != now["caller"].get(k)
    ]
    return ValueError(
        f"checkpoint {path} belongs to another run: {'; '.join(what)}. Resume with the "
        f"same model and data, or start afresh without resume=."
    )


def check_belongs(
    path,
    ckpt: dict[str, Any],
    *,
    config_key: dict[str, Any],
    seed: int,
    world: int,
    fingerprints: dict[str, Any] | None,
) -> None:
    """Refuse a checkpoint written by a run with other options, seed, world size, data or model."""
    then = {**ckpt["config"], "seed": ckpt["seed"], "world_size": ckpt["world_size"]}
    now = {**config_key, "seed": seed, "world_size": world}
    differ = [
        f"{k}={then.get(k, '<unset>')!r} then, {now.get(k, '<unset>')!r} now"
        for k in sorted(set(then) | set(now))
        if then.get(k) != now.get(k)
    ]
    if differ:
        raise ValueError(
            f"checkpoint {path} belongs to another run: {'; '.join(differ)}. Resume with the "
            f"same options (only progress, checkpoint, checkpoint_every, device and num_threads "
            f"may change), or start afresh without resume=."
        )
    if ckpt["fingerprint"] != fingerprints:
        raise _fingerprint_mismatch(path, ckpt["fingerprint"], fingerprints)  # type: ignore[arg-type]

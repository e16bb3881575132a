"""The VAE's networks (from :mod:`probmodels.nn`) and its data checks.

An example has ``input_shape``: ``(D,)`` for vectors (the MLP architecture) or
``(C, H, W)`` for images (MLP or convolutional). The encoder maps a batch
``(B,) + input_shape`` to ``(mu_phi(x), sigma_phi(x))``, each ``(B, K)``; the
decoder maps ``z`` ``(..., K)`` to logits or means ``(...) + input_shape``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from probmodels._validation import check_finite
from probmodels.nn import MLP, ConvDecoder, ConvEncoder

__all__ = ["Decoder", "Encoder", "VAENet", "as_examples", "build"]

#: floor on the encoder's scale sigma_phi(x) and the Gaussian likelihood's scale s
MIN_LATENT_SCALE = 1e-4
MIN_PIXEL_SCALE = 1e-3


class Decoder(nn.Module):
    """``f_theta(z)``: logits or means ``batch_shape + input_shape``; the Gaussian's scale ``rho``."""

    def __init__(self, body: nn.Module, input_shape: tuple[int, ...], gaussian: bool):
        super().__init__()
        self.body = body
        self.input_shape = input_shape
        # rho, with s = softplus(rho) + 1e-3; only the Gaussian likelihood has it
        self.rho = nn.Parameter(torch.zeros(input_shape)) if gaussian else None

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.body(z)
        # MLP: batch_shape + (prod(input_shape),) -> batch_shape + input_shape; conv already has it
        return out.reshape(*z.shape[:-1], *self.input_shape)


class Encoder(nn.Module):
    """``x -> (mu_phi(x), sigma_phi(x))``, each ``batch_shape + (K,)``."""

    def __init__(self, body: nn.Module, latent_dim: int, flatten_dims: int):
        super().__init__()
        self.body = body
        self.latent_dim = latent_dim
        self.flatten_dims = flatten_dims

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # MLP: (B,) + input_shape -> (B, prod(input_shape)); conv takes (B, C, H, W)
        out = self.body(x.flatten(-self.flatten_dims) if self.flatten_dims else x)
        loc, raw = out.split(self.latent_dim, dim=-1)
        return loc, F.softplus(raw) + MIN_LATENT_SCALE


class VAENet(nn.Module):
    """Every trained parameter and buffer of a VAE (what :func:`~probmodels.infer.train.train`
    optimises)."""

    def __init__(self, encoder: Encoder, decoder: Decoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder


def build(vae) -> VAENet:
    """The networks of a :class:`~probmodels.models.vae.model.VAE` from its configuration."""
    shape, K = vae.input_shape, vae.latent_dim
    D = int(np.prod(shape))
    gaussian = vae.likelihood == "gaussian"
    if vae.architecture == "mlp":
        enc = MLP(
            D, vae.hidden, 2 * K, activation=vae.activation, norm=vae.norm, dropout=vae.dropout
        )
        dec = MLP(
            K, vae.hidden[::-1], D, activation=vae.activation, norm=vae.norm, dropout=vae.dropout
        )
        return VAENet(Encoder(enc, K, flatten_dims=len(shape)), Decoder(dec, shape, gaussian))
    if len(shape) != 3:
        raise ValueError(
            f"VAE: architecture='conv' needs images, input_shape=(channel, height, width), got "
            f"input_shape={shape}; use architecture='mlp' for vectors."
        )
    try:
        enc = ConvEncoder(shape, vae.channels, 2 * K, norm=vae.norm, activation=vae.activation)  # type: ignore[assignment]
        dec = ConvDecoder(
            K,
            shape,
            vae.channels[::-1],
            upsample=vae.upsample,
            norm=vae.norm,  # type: ignore[assignment]
            activation=vae.activation,
        )
    except ValueError as exc:
        raise ValueError(
            f"VAE: architecture='conv' with channels={vae.channels} cannot produce "
            f"input_shape={shape}: {exc} Alternatively use architecture='mlp', which takes any "
            f"image size."
        ) from exc
    return VAENet(Encoder(enc, K, flatten_dims=0), Decoder(dec, shape, gaussian))


def as_examples(
    x: Any, input_shape: tuple[int, ...], likelihood: str, name: str = "x"
) -> torch.Tensor:
    """Check examples and return them as float32 ``(data,) + input_shape`` (on the CPU).

    Images ``(C, H, W)`` with ``C = 1`` may come as ``(data, H, W)``. Callers convert the
    result to the model's dtype (that of its networks) where it enters the networks.
    """
    if isinstance(x, torch.Tensor):
        array = x.detach().cpu().numpy()
    else:
        try:
            array = np.asarray(x)
        except Exception as exc:  # ragged lists and the like
            raise TypeError(
                f"{name} must be an array of examples, got {type(x).__name__} ({exc})."
            ) from exc
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must be a numeric array, got dtype {array.dtype}. "
            f"Convert it with np.asarray({name}, dtype=np.float32)."
        )
    shape = tuple(input_shape)
    if len(shape) == 3 and shape[0] == 1 and array.ndim == 3 and array.shape[1:] == shape[1:]:
        array = array[:, None]  # (data, H, W) -> (data, 1, H, W)
    if array.ndim != 1 + len(shape) or tuple(array.shape[1:]) != shape or array.shape[0] < 1:
        wanted = "(data, " + ", ".join(map(str, shape)) + ")"
        also = f" or (data, {shape[1]}, {shape[2]})" if len(shape) == 3 and shape[0] == 1 else ""
        fix = (
            f"build the VAE with input_shape={tuple(array.shape[1:])}"
            if array.ndim >= 2
            else "pass a batch of examples, e.g. x[None] for one"
        )
        raise ValueError(
            f"{name} must have shape {wanted}{also} for input_shape={shape}, got shape "
            f"{array.shape}. Reshape it, e.g. {name}.reshape(-1, {', '.join(map(str, shape))}), or "
            f"{fix}."
        )
    check_finite(array, name)
    if likelihood in ("bernoulli", "continuous_bernoulli"):
        lo, hi = float(array.min()), float(array.max())
        if lo < 0.0 or hi > 1.0:
            fix = (
                "binarize them, e.g. (images >= 8) for the 0..16 digits, or scale them to [0, 1]"
                if likelihood == "bernoulli"
                else "scale them to [0, 1], e.g. images / images.max()"
            )
            raise ValueError(
                f"{name} must lie in [0, 1] for likelihood={likelihood!r}, got values in "
                f"[{lo:g}, {hi:g}]. {fix[0].upper() + fix[1:]}; or use likelihood='gaussian'."
            )
        if likelihood == "bernoulli" and not np.isin(array, (0, 1)).all():
            warnings.warn(
                f"binary data check: {name} has values strictly between 0 and 1; the Bernoulli "
                f"likelihood then is a cross-entropy, not a normalized density. Binarize the "
                f"data or use likelihood='continuous_bernoulli'.",
                UserWarning,
                stacklevel=3,
            )
    return torch.as_tensor(array.astype(np.float32, copy=False))

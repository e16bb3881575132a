r"""Variational autoencoder (Kingma & Welling 2014), a Pyro model/guide pair.

.. math::

    z_n \sim \mathcal N(0, I_K), \qquad
    x_n \mid z_n \sim p_\theta(x_n \mid z_n) \quad\text{(decoder)}, \qquad
    q_\phi(z_n \mid x_n) = \mathcal N\big(\mu_\phi(x_n), \operatorname{diag} \sigma_\phi(x_n)^2\big)
    \quad\text{(encoder, the guide)},

trained by maximising the evidence lower bound (seed notes, VAE section)

.. math::

    \log p_\theta(x) \ge \mathrm{ELBO}
    = \mathbb E_{q_\phi(z \mid x)}[\log p_\theta(x \mid z)]
      - D_\mathrm{KL}\big(q_\phi(z \mid x) \,\|\, p(z)\big),

estimated with one reparameterised draw per example by Pyro's
``TraceMeanField_ELBO`` (the default ``analytic_kl=True``: the KL term in closed
form, :math:`D_\mathrm{KL} = \tfrac12 \sum_k (\mu_k^2 + \sigma_k^2 - 1 - 2\log\sigma_k)`)
or by ``Trace_ELBO`` (``analytic_kl=False``: the KL term estimated by
:math:`\log q_\phi(z \mid x) - \log p(z)` at the draw).
The likelihood of the ``(C, H, W)`` pixels, independent given ``z``, is

- ``"bernoulli"``: :math:`x \sim \mathrm{Bernoulli}(\operatorname{sigmoid}(f_\theta(z)))`, data in [0, 1];
- ``"continuous_bernoulli"``: the continuous Bernoulli of Loaiza-Ganem &
  Cunningham (2019) with logits :math:`f_\theta(z)`, data in [0, 1];
- ``"gaussian"``: :math:`x \sim \mathcal N(f_\theta(z), s^2)` with a learned
  per-pixel scale :math:`s = \operatorname{softplus}(\rho) + 10^{-3}`.

The importance-weighted bound (Burda et al. 2016) with :math:`S` draws
:math:`z_s \sim q_\phi(z \mid x)`,

.. math::

    \log p_\theta(x) \approx \log \frac1S \sum_{s=1}^S
    \frac{p_\theta(x \mid z_s)\, p(z_s)}{q_\phi(z_s \mid x)},

is what :meth:`VAEFit.evaluate` reports as ``"log_likelihood"``.

Sites (a batch of ``B`` images out of ``N``; the data plate ``data`` at
``dim=-1`` has size ``num_data = N`` and is subsampled to the batch, so each
term is scaled by ``N / B``):

====  ===========  ===============  ==============================
site  batch_shape  event_shape      plates
====  ===========  ===============  ==============================
z     (B,)         (K,)             data (dim -1)
x     (B,)         (C, H, W)        data (observed)
====  ===========  ===============  ==============================

The encoder and decoder are registered with ``pyro.module`` (names
``"encoder"`` and ``"decoder"``), so ``VAE.model`` / ``VAE.guide`` work with
plain ``pyro.infer.SVI`` too. :meth:`VAE.fit` trains them with
:func:`probmodels.train.train` (AdamW on the module's parameters, minibatches,
validation early stopping), replaying a TorchScript trace of the ELBO at each
training step (:class:`_TracedELBOLoss`; bit for bit the eager Pyro loss).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from torch import nn

from probmodels._validation import check_choice, check_finite, check_float, check_int
from probmodels.infer import resolve_seed
from probmodels.nn import ConvDecoder, ConvEncoder, MLP
from probmodels.results import FitResult
from probmodels.train import ELBOLoss, TrainConfig, resolve_device, train

__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "LIKELIHOODS",
    "Likelihood",
    "VAE",
    "VAEFit",
]

Likelihood = Literal["bernoulli", "gaussian", "continuous_bernoulli"]
LIKELIHOODS: tuple[str, ...] = get_args(Likelihood)
Architecture = Literal["mlp", "conv"]
ARCHITECTURES: tuple[str, ...] = get_args(Architecture)

#: floor on the encoder's scale sigma_phi(x) and the Gaussian likelihood's scale s
_MIN_LATENT_SCALE = 1e-4
_MIN_PIXEL_SCALE = 1e-3

#: fit defaults, tuned on the binarized digits (docs/vae.md: how)
FIT_DEFAULTS: dict[str, Any] = {
    "epochs": 200, "batch_size": 64, "lr": 1e-3, "schedule": "cosine", "weight_decay": 0.0,
    "grad_clip": None, "validation": 0.1, "patience": 30, "ema_decay": None,
}


# ------------------------------------------------------------------ networks


class _Decoder(nn.Module):
    """``f_theta(z)``: logits or means ``batch_shape + (C, H, W)``; the Gaussian's scale ``rho``."""

    def __init__(self, body: nn.Module, input_shape: tuple[int, int, int], gaussian: bool):
        super().__init__()
        self.body = body
        self.input_shape = input_shape
        # rho, with s = softplus(rho) + 1e-3; only the Gaussian likelihood has it
        self.rho = nn.Parameter(torch.zeros(input_shape)) if gaussian else None

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.body(z)
        # MLP: batch_shape + (C*H*W,) -> batch_shape + (C, H, W); conv already has it
        return out.reshape(*z.shape[:-1], *self.input_shape)


class _Encoder(nn.Module):
    """``x -> (mu_phi(x), sigma_phi(x))``, each ``batch_shape + (K,)``."""

    def __init__(self, body: nn.Module, latent_dim: int, flatten: bool):
        super().__init__()
        self.body = body
        self.latent_dim = latent_dim
        self.flatten = flatten

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # MLP: (B, C, H, W) -> (B, C*H*W)
        out = self.body(x.flatten(-3) if self.flatten else x)
        loc, raw = out.split(self.latent_dim, dim=-1)
        return loc, F.softplus(raw) + _MIN_LATENT_SCALE


class _VAENet(nn.Module):
    """Every trained parameter and buffer of a VAE (what :func:`train` optimises)."""

    def __init__(self, encoder: _Encoder, decoder: _Decoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder


# ------------------------------------------------------------------ data


def _as_images(x: Any, input_shape: tuple[int, int, int], likelihood: str, name: str = "x") -> torch.Tensor:
    """Check images and return them as float32 ``(data, C, H, W)`` (on the CPU).

    Callers convert the result to the model's dtype (:attr:`VAE.dtype`, the
    dtype of its networks' parameters) where it enters the networks.
    """
    C, H, W = input_shape
    if isinstance(x, torch.Tensor):
        array = x.detach().cpu().numpy()
    else:
        try:
            array = np.asarray(x)
        except Exception as exc:  # ragged lists and the like
            raise TypeError(f"{name} must be an array of images, got {type(x).__name__} ({exc}).") from exc
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must be a numeric array of images, got dtype {array.dtype}. "
            f"Convert it with np.asarray({name}, dtype=np.float32)."
        )
    if C == 1 and array.ndim == 3 and array.shape[1:] == (H, W):
        array = array[:, None]  # (data, H, W) -> (data, 1, H, W)
    if array.ndim != 4 or array.shape[1:] != (C, H, W) or array.shape[0] < 1:
        also = f" or (data, {H}, {W})" if C == 1 else ""
        raise ValueError(
            f"{name} must have shape (data, {C}, {H}, {W}){also} for input_shape={input_shape}, "
            f"got shape {array.shape}. Reshape it, e.g. {name}.reshape(-1, {C}, {H}, {W}), or "
            f"build the VAE with input_shape={tuple(array.shape[1:]) if array.ndim == 4 else '...'}."
        )
    check_finite(array, name)
    if likelihood in ("bernoulli", "continuous_bernoulli"):
        lo, hi = float(array.min()), float(array.max())
        if lo < 0.0 or hi > 1.0:
            fix = ("binarize them, e.g. (images >= 8) for the 0..16 digits, or scale them to [0, 1]"
                   if likelihood == "bernoulli" else "scale them to [0, 1], e.g. images / images.max()")
            raise ValueError(
                f"{name} must lie in [0, 1] for likelihood={likelihood!r}, got values in "
                f"[{lo:g}, {hi:g}]. {fix[0].upper() + fix[1:]}; or use likelihood='gaussian'."
            )
        if likelihood == "bernoulli" and not np.isin(array, (0, 1)).all():
            warnings.warn(
                f"binary data check: {name} has values strictly between 0 and 1; the Bernoulli "
                f"likelihood then is a cross-entropy, not a normalized density. Binarize the "
                f"data or use likelihood='continuous_bernoulli'.",
                UserWarning, stacklevel=3,
            )
    return torch.as_tensor(array, dtype=torch.float32)


# ------------------------------------------------------------------ the compiled loss


class _ELBOGraph(nn.Module):
    """One particle of ``loss.elbo`` on a batch, as a module so that ``torch.jit.trace``
    sees ``net``'s parameters and buffers as the module's state, not as constants."""

    def __init__(self, loss: ELBOLoss, net: nn.Module):
        super().__init__()
        self.net = net
        self._loss = loss  # not a Module: plain attribute

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        loss = self._loss
        model_trace, guide_trace = next(loss.elbo._get_traces(
            loss.model, loss.guide, (batch,), {"num_data": loss.num_data}))
        # (loss, surrogate loss): equal in value for a fully reparameterised guide, and the
        # surrogate carries the gradient. Not elbo.differentiable_loss: it adds
        # surrogate - surrogate.item(), and the trace would freeze that item() as a constant.
        _, surrogate = loss.elbo._differentiable_loss_particle(model_trace, guide_trace)
        return surrogate / loss.num_data


class _TracedELBOLoss(ELBOLoss):
    """:class:`~probmodels.train.ELBOLoss` whose training steps run a TorchScript trace.

    Pyro builds the model and guide traces in Python at every step, about 1-1.5 ms
    whatever the network (1.4 times a plain PyTorch step on the digits networks).
    Here the first training call for each batch shape records the operations of
    one ELBO particle with ``torch.jit.trace``; later calls replay them, drawing
    fresh noise from the same generator in the same order. Pyro's
    ``JitTrace_ELBO`` does not fit :func:`~probmodels.train.train`: it compiles
    only ``loss_and_grads`` (not ``differentiable_loss``), needs the weights in
    Pyro's global parameter store (``pyro.module``, names shared between models),
    and draws noise while compiling, so a resumed run would not repeat the
    uninterrupted one; ``JitTraceMeanField_ELBO`` re-traces at every step (pyro 1.9.2).

    Guarantees, each tested:

    - the trace is recorded under ``torch.random.fork_rng``, so compiling
      consumes no random numbers and checkpoint/resume stays exact;
    - replay uses ``torch.jit.optimized_execution(False)``: the recorded aten
      operations run as recorded and autograd differentiates them as in eager
      mode, so loss and gradients equal the eager ``ELBOLoss`` bit for bit (the
      optimising executor fuses and differentiates symbolically: last-bit
      differences that would also make a resumed run differ);
    - each new trace is checked once against the eager loss on the same noise;
      a mismatch (a model with data-dependent control flow) warns and that batch
      shape runs eagerly.

    Evaluation mode or ``torch.no_grad()`` (validation) runs Pyro eagerly. The
    model must have a fixed structure for a given batch shape and only
    reparameterised latent sites (true of the VAE: ``z`` is Normal).
    """

    def __init__(self, model, guide, num_data: int, *, elbo, net: nn.Module, validate: bool = False):
        super().__init__(model, guide, num_data, elbo=elbo, validate=validate)
        self.net = net
        self.graph = _ELBOGraph(self, net)
        #: (shape, dtype, device) -> traced module, or None where the check failed
        self.compiled: dict[tuple, Any] = {}
        #: how many traces were recorded (one per batch shape)
        self.traces = 0

    def _compile(self, batch: torch.Tensor):
        devices = [batch.device] if batch.device.type == "cuda" else []
        # tracing and the check run the forward pass: batch norm would update its
        # running statistics three extra times
        buffers = [b.detach().clone() for b in self.net.buffers()]
        with torch.random.fork_rng(devices=devices), pyro.validation_enabled(self.validate):
            rng = torch.get_rng_state()
            cuda_rng = torch.cuda.get_rng_state(batch.device) if devices else None
            with warnings.catch_warnings():
                # the trace freezes Python numbers (plate sizes, the N / B scale) for this
                # shape, which is what the cache key is for
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                # torch >= 2.10 announces TorchScript's retirement; jit=False is the way
                # out if a later torch drops it
                warnings.filterwarnings("ignore", message=r".*torch\.jit\.trace\w*. is deprecated",
                                        category=DeprecationWarning)
                try:
                    traced = torch.jit.trace(self.graph, (batch,), check_trace=False)
                except Exception as exc:  # e.g. a torch without TorchScript
                    traced, error = None, exc
            if traced is None:
                for b, saved in zip(self.net.buffers(), buffers):
                    b.copy_(saved)
                warnings.warn(
                    f"Pyro ELBO trace check: torch.jit.trace failed ({type(error).__name__}: "
                    f"{error}); batch shape {tuple(batch.shape)} runs eagerly. Pass jit=False "
                    f"to skip tracing.", UserWarning, stacklevel=4,
                )
                return None
            self.traces += 1
            # replay against eager on the same noise
            with torch.no_grad():
                torch.set_rng_state(rng)
                if cuda_rng is not None:
                    torch.cuda.set_rng_state(cuda_rng, batch.device)
                eager = self.graph(batch)
                torch.set_rng_state(rng)
                if cuda_rng is not None:
                    torch.cuda.set_rng_state(cuda_rng, batch.device)
                with torch.jit.optimized_execution(False):
                    replayed = traced(batch)
                for b, saved in zip(self.net.buffers(), buffers):
                    b.copy_(saved)
        if not torch.equal(eager, replayed):
            warnings.warn(
                f"Pyro ELBO trace check: the traced loss {float(replayed):.6g} differs from the "
                f"eager loss {float(eager):.6g} for batch shape {tuple(batch.shape)}; this shape "
                f"runs eagerly. Pass jit=False to skip tracing.",
                UserWarning, stacklevel=4,
            )
            return None
        return traced

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        if not (torch.is_grad_enabled() and self.net.training):
            return super().__call__(batch)
        key = (tuple(batch.shape), batch.dtype, batch.device)
        if key not in self.compiled:
            self.compiled[key] = self._compile(batch)
        traced = self.compiled[key]
        if traced is None:
            return super().__call__(batch)
        with torch.jit.optimized_execution(False):
            return traced(batch)


# ------------------------------------------------------------------ the model


def _call_unregistered(fn, x, *, num_data=None):
    return fn(x, num_data, register=False)


class VAE:
    """Variational autoencoder: the Pyro model/guide pair and a fit API.

    Parameters
    ----------
    input_shape : tuple of int
        ``(channel, height, width)`` of one image, e.g. ``(1, 8, 8)``.
    latent_dim : int
        ``K >= 1``, the size of ``z``.
    likelihood : {"bernoulli", "gaussian", "continuous_bernoulli"}, default "bernoulli"
        ``p_theta(x | z)`` (module docstring).
    architecture : {"mlp", "conv"}, default "mlp"
        ``"mlp"``: encoder ``MLP(C*H*W, hidden, 2K)`` and decoder
        ``MLP(K, reversed(hidden), C*H*W)``. ``"conv"``: ``ConvEncoder(input_shape,
        channels, 2K)`` and ``ConvDecoder(K, input_shape, reversed(channels))``,
        which need height and width divisible by ``2 ** len(channels)``.
    hidden : sequence of int, default (256, 256)
        Hidden widths of the MLPs.
    channels : sequence of int, default (32, 64)
        Channels of the encoder's stride-2 stages (the decoder mirrors them).
    activation : str, default "relu"
        Any of ``probmodels.nn.ACTIVATIONS``.
    norm : {"batch", "instance", "layer", "group"} or None, default None
        Normalization inside the networks (see ``probmodels.nn.make_norm``).
    dropout : float, default 0.0
        Dropout of the MLPs' hidden layers.
    upsample : {"transpose", "nearest", "bilinear", "bicubic"}, default "transpose"
        The conv decoder's up-sampling.
    analytic_kl : bool, default True
        Train with ``TraceMeanField_ELBO``: ``Trace_ELBO`` with the KL term of
        ``z`` in closed form, the same objective with less noise (on the digits
        it ends about 0.3 nats higher). ``False``: plain ``Trace_ELBO``.

    Examples
    --------
    >>> import probmodels as pm
    >>> images, labels = pm.datasets.load_digits()
    >>> x = (images >= 8).astype("float32")
    >>> fit = pm.VAE(input_shape=(1, 8, 8), latent_dim=8).fit(x[:1500], seed=0)  # doctest: +SKIP
    >>> fit.evaluate(x[1500:])  # doctest: +SKIP
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        latent_dim: int,
        likelihood: Likelihood = "bernoulli",
        architecture: Architecture = "mlp",
        *,
        hidden: Sequence[int] = (256, 256),
        channels: Sequence[int] = (32, 64),
        activation: str = "relu",
        norm: str | None = None,
        dropout: float = 0.0,
        upsample: str = "transpose",
        analytic_kl: bool = True,
    ):
        if (isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, Sequence)
                or len(input_shape) != 3):
            raise ValueError(
                f"input_shape must be (channel, height, width), got {input_shape!r}. "
                f"For 8x8 grey images pass input_shape=(1, 8, 8)."
            )
        self.input_shape = tuple(check_int(s, f"input_shape[{i}]", minimum=1)
                                 for i, s in enumerate(input_shape))
        self.latent_dim = check_int(latent_dim, "latent_dim", minimum=1)
        self.likelihood = check_choice(likelihood, "likelihood", LIKELIHOODS)
        self.architecture = check_choice(architecture, "architecture", ARCHITECTURES)
        self.hidden = tuple(check_int(h, f"hidden[{i}]", minimum=1) for i, h in enumerate(hidden))
        self.channels = tuple(check_int(c, f"channels[{i}]", minimum=1) for i, c in enumerate(channels))
        self.activation = activation
        self.norm = norm
        self.dropout = check_float(dropout, "dropout", minimum=0.0, maximum=0.99)
        self.upsample = upsample
        if not isinstance(analytic_kl, bool):
            raise TypeError(f"analytic_kl must be True or False, got {analytic_kl!r}.")
        self.analytic_kl = analytic_kl
        self.net = self._build()

    # -------------------------------------------------------------- networks
    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments (JSON-ready): ``VAE(**vae.config)`` rebuilds the model."""
        return {
            "input_shape": list(self.input_shape), "latent_dim": self.latent_dim,
            "likelihood": self.likelihood, "architecture": self.architecture,
            "hidden": list(self.hidden), "channels": list(self.channels),
            "activation": self.activation, "norm": self.norm, "dropout": self.dropout,
            "upsample": self.upsample, "analytic_kl": self.analytic_kl,
        }

    def _build(self) -> _VAENet:
        C, H, W = self.input_shape
        K, D = self.latent_dim, C * H * W
        gaussian = self.likelihood == "gaussian"
        if self.architecture == "mlp":
            enc = MLP(D, self.hidden, 2 * K, activation=self.activation, norm=self.norm,
                      dropout=self.dropout)
            dec = MLP(K, self.hidden[::-1], D, activation=self.activation, norm=self.norm,
                      dropout=self.dropout)
            return _VAENet(_Encoder(enc, K, flatten=True), _Decoder(dec, self.input_shape, gaussian))
        try:
            enc = ConvEncoder(self.input_shape, self.channels, 2 * K, norm=self.norm,
                              activation=self.activation)
            dec = ConvDecoder(K, self.input_shape, self.channels[::-1], upsample=self.upsample,
                              norm=self.norm, activation=self.activation)
        except ValueError as exc:
            raise ValueError(
                f"VAE: architecture='conv' with channels={self.channels} cannot produce "
                f"input_shape={self.input_shape}: {exc} Alternatively use architecture='mlp', "
                f"which takes any image size."
            ) from exc
        return _VAENet(_Encoder(enc, K, flatten=False), _Decoder(dec, self.input_shape, gaussian))

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the model computes in: that of its networks' parameters, which is
        torch's default dtype when the VAE is built (or loaded); data are converted to it."""
        return next(self.net.parameters()).dtype

    # ------------------------------------------------------------ distributions
    def _likelihood(self, f: torch.Tensor) -> dist.TorchDistribution:
        """``p_theta(x | z)`` from the decoder output ``f`` (``batch_shape + (C, H, W)``)."""
        if self.likelihood == "bernoulli":
            base = dist.Bernoulli(logits=f)
        elif self.likelihood == "continuous_bernoulli":
            base = dist.ContinuousBernoulli(logits=f)
        else:
            base = dist.Normal(f, F.softplus(self.net.decoder.rho) + _MIN_PIXEL_SCALE)
        return base.to_event(3)

    def _mean(self, f: torch.Tensor) -> torch.Tensor:
        """``E[x | z]`` from the decoder output."""
        if self.likelihood == "bernoulli":
            return torch.sigmoid(f)
        if self.likelihood == "continuous_bernoulli":
            return dist.ContinuousBernoulli(logits=f).mean
        return f

    # -------------------------------------------------------- the Pyro pair
    def model(self, x: torch.Tensor | None = None, *, num_data: int | None = None) -> torch.Tensor:
        """The Pyro model ``p(z) p_theta(x | z)``.

        Parameters
        ----------
        x : torch.Tensor, optional
            A batch of images ``(batch, C, H, W)`` in the model's dtype (:attr:`dtype`,
            float32 unless torch's default dtype was changed), observed at site ``"x"``.
            ``None`` simulates ``num_data`` images (prior predictive).
        num_data : int, optional
            Size ``N`` of the whole data set; the batch is a subsample of it and
            every term is scaled by ``N / batch`` (default: the batch is all the data).

        Returns
        -------
        torch.Tensor
            The images ``x`` (drawn when not observed), ``(batch, C, H, W)``.
        """
        return self._model(x, num_data, register=True)

    def _model(self, x, num_data, register: bool):
        # register=False: train() optimises self.net directly, so putting the weights in
        # Pyro's parameter store at every step would be pure overhead
        if register:
            pyro.module("decoder", self.net.decoder)
        device = self.device
        if x is None:
            size = 1 if num_data is None else check_int(num_data, "num_data", minimum=1)
            subsample = None
        else:
            size = x.shape[0] if num_data is None else num_data
            # the batch is the subsample; passing its positions skips Pyro's randperm(N)
            subsample = torch.arange(x.shape[0], device=device)
        loc = torch.zeros(self.latent_dim, dtype=self.dtype, device=device)
        with pyro.plate("data", size, subsample=subsample, dim=-1):
            z = pyro.sample("z", dist.Normal(loc, 1.0).to_event(1))
            return pyro.sample("x", self._likelihood(self.net.decoder(z)), obs=x)

    def guide(self, x: torch.Tensor | None = None, *, num_data: int | None = None) -> torch.Tensor:
        """The guide ``q_phi(z | x)`` (encoder); takes the model's arguments, needs ``x``."""
        if x is None:
            raise ValueError(
                "VAE.guide needs the images x: q(z | x) is amortised over x. Pass the same "
                "batch as to the model; to simulate from the prior call model(None, num_data=n)."
            )
        return self._guide(x, num_data, register=True)

    def _guide(self, x, num_data, register: bool):
        if register:
            pyro.module("encoder", self.net.encoder)
        size = x.shape[0] if num_data is None else num_data
        with pyro.plate("data", size, subsample=torch.arange(x.shape[0], device=x.device), dim=-1):
            loc, scale = self.net.encoder(x)
            return pyro.sample("z", dist.Normal(loc, scale).to_event(1))

    def elbo_loss(self, num_data: int, *, jit: bool = True) -> ELBOLoss:
        """The training loss: mean negative ELBO per example (``Trace_ELBO`` or, with
        ``analytic_kl``, ``TraceMeanField_ELBO``), for :func:`probmodels.train.train`.

        ``jit=True`` runs the ELBO's computation, in training mode with gradients,
        as a TorchScript trace (one per batch shape, see :class:`_TracedELBOLoss`):
        the same values and gradients, bit for bit, without Pyro's per-step
        tracing in Python. ``jit=False`` runs Pyro eagerly at every step.
        """
        if not isinstance(jit, bool):
            raise TypeError(f"jit must be True or False, got {jit!r}.")
        elbo = pyro.infer.TraceMeanField_ELBO() if self.analytic_kl else pyro.infer.Trace_ELBO()
        # the same model and guide without pyro.module: train() optimises self.net itself
        model = functools.partial(_call_unregistered, self._model)
        guide = functools.partial(_call_unregistered, self._guide)
        if jit:
            return _TracedELBOLoss(model, guide, num_data, elbo=elbo, net=self.net)
        return ELBOLoss(model, guide, num_data, elbo=elbo)

    # ----------------------------------------------------------------- fit
    def fit(
        self,
        x: Any,
        *,
        epochs: int = FIT_DEFAULTS["epochs"],
        batch_size: int = FIT_DEFAULTS["batch_size"],
        lr: float = FIT_DEFAULTS["lr"],
        schedule: str = FIT_DEFAULTS["schedule"],
        weight_decay: float = FIT_DEFAULTS["weight_decay"],
        grad_clip: float | None = FIT_DEFAULTS["grad_clip"],
        validation: float | None = FIT_DEFAULTS["validation"],
        patience: int | None | str = "auto",
        ema_decay: float | None = FIT_DEFAULTS["ema_decay"],
        seed: int | None = None,
        device: Any = None,
        progress: bool = True,
        checkpoint: str | Path | None = None,
        checkpoint_every: int = 1,
        resume: str | Path | None = None,
        cpu_threads: int | None = 1,
        jit: bool = True,
    ) -> "VAEFit":
        """Fit encoder and decoder to images by minibatch SVI.

        The networks are initialised afresh from ``seed`` in a new ``VAE`` with
        this one's configuration (``fit.vae``); this object's networks are left
        as they were. The options are those of :class:`probmodels.train.TrainConfig`.

        Parameters
        ----------
        x : array-like
            Images ``(data, C, H, W)`` (or ``(data, H, W)`` when ``C = 1``), float
            or integer; in [0, 1] for the Bernoulli likelihoods.
        epochs : int, default 200
            Passes over the training part (early stopping may end sooner).
        batch_size : int, default 64
        lr : float, default 1e-3
            AdamW learning rate.
        schedule : {"constant", "cosine", "onecycle"}, default "cosine"
        weight_decay : float, default 0.0
        grad_clip : float or None, default None
        validation : float or None, default 0.1
            Fraction held out for early stopping; the weights of the epoch with
            the best validation ELBO are kept.
        patience : int, None or "auto", default "auto"
            Epochs without improvement before stopping; ``"auto"`` is 30 with
            validation and None without.
        ema_decay : float or None, default None
        seed : int, optional
            Seeds the initial weights, the data order and the noise; drawn and
            recorded when omitted.
        device : str or torch.device, optional
            ``"cpu"`` (default) or ``"cuda"``.
        progress : bool, default True
        checkpoint, checkpoint_every, resume
            Write a checkpoint every ``checkpoint_every`` epochs to ``checkpoint``;
            ``resume=path`` continues from one (same options and seed).
        cpu_threads : int or None, default 1
            torch threads while training on the CPU (see ``TrainConfig``).
        jit : bool, default True
            Run the training steps' ELBO as a TorchScript trace of the Pyro model and
            guide (:meth:`elbo_loss`): the same numbers bit for bit, 1.3-1.4 times
            faster per step on the digits networks (docs/vae.md). ``False`` runs Pyro eagerly.

        Returns
        -------
        VAEFit
        """
        x = _as_images(x, self.input_shape, self.likelihood)
        seed = resolve_seed(seed)
        if isinstance(patience, str) and patience == "auto":
            patience = FIT_DEFAULTS["patience"] if validation is not None else None
        config = TrainConfig(
            epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
            schedule=schedule, grad_clip=grad_clip, validation=validation, patience=patience,
            ema_decay=ema_decay, device=device, progress=progress, checkpoint=checkpoint,
            checkpoint_every=checkpoint_every, cpu_threads=cpu_threads,
        )
        resolve_device(device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            vae = VAE(**self.config)
        # the networks are built in torch's default dtype; the data follow them
        x = x.to(vae.dtype)
        n = x.shape[0]
        num_train = n - (0 if validation is None else max(1, int(round(validation * n))))
        loss = vae.elbo_loss(max(num_train, 1), jit=jit)
        run = train(loss, vae.net, x, config, seed=seed, resume=resume, description="VAE",
                    fingerprint={"model": "VAE", **self.config})
        options = {k: getattr(config, k) for k in FIT_DEFAULTS}
        options.update(device=str(vae.device), checkpoint_every=checkpoint_every, jit=jit)
        diagnostics = {
            "seconds": run.seconds, "epochs": run.epochs, "best_epoch": run.best_epoch,
            "stopped_early": run.stopped_early, "steps": run.steps, "num_train": run.num_train,
            "num_val": run.num_val, "world_size": run.world_size,
            "best_val_loss": float(run.val_loss[run.best_epoch]) if run.val_loss.size else None,
        }
        return VAEFit(draws={}, method="svi", seed=seed, losses=run.train_loss, options=options,
                      diagnostics=diagnostics, vae=vae, val_losses=run.val_loss)

    def __repr__(self) -> str:
        return (f"VAE(input_shape={self.input_shape}, latent_dim={self.latent_dim}, "
                f"likelihood={self.likelihood!r}, architecture={self.architecture!r})")


# ------------------------------------------------------------------ the result


@dataclass
class VAEFit(FitResult):
    """The result of :meth:`VAE.fit`.

    Attributes
    ----------
    vae : VAE
        The trained model (``fit.vae.model`` / ``fit.vae.guide`` are the trained Pyro pair).
    losses : numpy.ndarray
        Mean training loss (negative ELBO per example, nats) of each epoch.
    val_losses : numpy.ndarray
        Validation loss after each epoch (empty without validation).
    diagnostics : dict
        ``seconds``, ``epochs``, ``best_epoch``, ``stopped_early``, ``steps``, ...

    ``draws`` is empty: a VAE has no global latent variables, only the networks'
    weights. Saved with ``fit.save(path)`` (weights and batch-norm buffers as
    arrays in the ``.npz``, no pickle) and read with ``probmodels.load(path)``.
    """

    vae: VAE | None = None
    val_losses: np.ndarray = field(default_factory=lambda: np.empty(0))

    model_name = "VAE"

    # ---------------------------------------------------------------- helpers
    def _images(self, x, name="x") -> torch.Tensor:
        return _as_images(x, self.vae.input_shape, self.vae.likelihood, name).to(
            device=self.vae.device, dtype=self.vae.dtype)

    def _generator(self, seed: int | None) -> torch.Generator:
        return torch.Generator(device=self.vae.device).manual_seed(resolve_seed(seed))

    def _chunks(self, x: torch.Tensor, per_chunk: int):
        return x.split(max(1, per_chunk))

    # ---------------------------------------------------------------- analysis
    def evaluate(self, x, *, num_samples: int = 1000, seed: int | None = 0) -> dict[str, float]:
        """ELBO and importance-weighted log-likelihood per example, in nats.

        Parameters
        ----------
        x : array-like
            Images, as for :meth:`VAE.fit`.
        num_samples : int, default 1000
            Draws ``S`` from ``q(z | x)`` per image; ``"elbo"`` is the mean of the
            ``S`` log weights, ``"log_likelihood"`` their log-mean-exp (module docstring).
        seed : int or None, default 0
            Seed of the draws (a local generator; global random states are untouched).

        Returns
        -------
        dict
            ``"elbo"``, ``"log_likelihood"`` (means over the images),
            ``"elbo_se"`` and ``"log_likelihood_se"`` (standard errors of those
            means over the images), ``"log_likelihood_mc_se"`` (the Monte Carlo
            error of ``"log_likelihood"`` from the ``S`` draws: per image the
            delta-method ``sqrt((mean(w^2) / mean(w)^2 - 1) / S)`` of the
            log-mean-exp, combined over images; when ``q(z | x)`` is much narrower
            than the posterior the weights are heavy-tailed and this
            underestimates the error) and ``"num_samples"``.
        """
        S = check_int(num_samples, "num_samples", minimum=1)
        x = self._images(x)
        g = self._generator(seed)
        vae = self.vae
        vae.net.eval()
        elbos, lls, mc_vars = [], [], []
        with torch.no_grad(), pyro.validation_enabled(False):
            # about 50,000 decoder inputs at a time
            for chunk in self._chunks(x, 50_000 // S):
                loc, scale = vae.net.encoder(chunk)
                eps = torch.randn((S,) + loc.shape, generator=g, dtype=loc.dtype, device=loc.device)
                z = loc + scale * eps  # (S, batch, K)
                log_w = (vae._likelihood(vae.net.decoder(z)).log_prob(chunk)
                         + dist.Normal(0.0, 1.0).log_prob(z).sum(-1)
                         - dist.Normal(loc, scale).log_prob(z).sum(-1)).double()  # (S, batch)
                elbos.append(log_w.mean(0))
                lls.append(torch.logsumexp(log_w, 0) - math.log(S))
                r = torch.exp(log_w - log_w.max(0).values)   # (S, batch)
                mc_vars.append((r.pow(2).mean(0) / r.mean(0).pow(2) - 1.0).clamp_min(0.0) / S)
        elbo, ll, mc_var = torch.cat(elbos), torch.cat(lls), torch.cat(mc_vars)
        n = elbo.numel()
        se, ll_se = ((float(v.std() / math.sqrt(n)) if n > 1 else float("nan")) for v in (elbo, ll))
        return {"elbo": float(elbo.mean()), "log_likelihood": float(ll.mean()),
                "elbo_se": se, "log_likelihood_se": ll_se,
                "log_likelihood_mc_se": float(mc_var.sum().sqrt() / n), "num_samples": S}

    def encode(self, x) -> tuple[np.ndarray, np.ndarray]:
        """Posterior means and scales ``(mu_phi(x), sigma_phi(x))``, each ``(data, K)``."""
        x = self._images(x)
        self.vae.net.eval()
        with torch.no_grad():
            loc, scale = self.vae.net.encoder(x)
        return loc.cpu().numpy(), scale.cpu().numpy()

    def decode(self, z) -> np.ndarray:
        """``E[x | z]`` for latent points ``z`` of shape ``(data, K)``: ``(data, C, H, W)``."""
        z = z.detach() if isinstance(z, torch.Tensor) else np.asarray(z)
        z = torch.as_tensor(z, dtype=self.vae.dtype, device=self.vae.device)
        K = self.vae.latent_dim
        if z.dim() != 2 or z.shape[1] != K:
            raise ValueError(f"z must have shape (data, {K}), got {tuple(z.shape)}.")
        check_finite(z.cpu().numpy(), "z")
        self.vae.net.eval()
        with torch.no_grad():
            return self.vae._mean(self.vae.net.decoder(z)).cpu().numpy()

    def reconstruct(self, x) -> np.ndarray:
        """``E[x | z = mu_phi(x)]``, the decoded posterior means, shape ``(data, C, H, W)``."""
        loc, _ = self.encode(x)
        return self.decode(loc)

    def sample(self, n: int, *, seed: int | None = None, mean: bool = True) -> np.ndarray:
        """``n`` images from the model: ``z ~ N(0, I)``, then ``E[x | z]`` (``mean=True``)
        or a draw of ``x`` (``mean=False``). Shape ``(n, C, H, W)``."""
        n = check_int(n, "n", minimum=1)
        g = self._generator(seed)
        z = torch.randn(n, self.vae.latent_dim, generator=g, dtype=self.vae.dtype, device=self.vae.device)
        self.vae.net.eval()
        with torch.no_grad(), pyro.validation_enabled(False):
            f = self.vae.net.decoder(z)
            if mean:
                return self.vae._mean(f).cpu().numpy()
            with torch.random.fork_rng(devices=[] if z.device.type == "cpu" else [z.device]):
                torch.manual_seed(int(torch.randint(0, 2**31 - 1, (), generator=g, device=g.device)))
                return self.vae._likelihood(f).sample().cpu().numpy()

    def interpolate(self, x1, x2, steps: int = 8) -> np.ndarray:
        """Decoded means along the straight line between the posterior means of two images.

        Parameters
        ----------
        x1, x2 : array-like
            One image each, ``(C, H, W)`` (or ``(H, W)`` when ``C = 1``).
        steps : int, default 8
            Points on the line, both ends included (``>= 2``).

        Returns
        -------
        numpy.ndarray
            ``(steps, C, H, W)``.
        """
        steps = check_int(steps, "steps", minimum=2)
        ends = []
        for name, img in (("x1", x1), ("x2", x2)):
            arr = np.asarray(img.detach().cpu() if isinstance(img, torch.Tensor) else img)
            ends.append(self.encode(_as_images(arr[None], self.vae.input_shape,
                                               self.vae.likelihood, name))[0][0])
        t = np.linspace(0.0, 1.0, steps)[:, None]
        return self.decode((1.0 - t) * ends[0] + t * ends[1])

    # ---------------------------------------------------------------- plots
    def plot_reconstructions(self, x, *, n: int = 10, ax=None):
        """The first ``n`` images (top row) above their reconstructions (bottom row)."""
        from probmodels.plots import plot_image_grid

        x = np.asarray(self._images(x)[:n].cpu())
        grid = np.concatenate([x, self.reconstruct(x)])
        ax = plot_image_grid(grid, ncols=len(x), ax=ax)
        ax.set_title("data (top) and reconstructions E[x | z = mu(x)] (bottom)")
        return ax

    def plot_samples(self, n: int = 64, *, seed: int | None = 0, ax=None):
        """A grid of ``n`` images ``E[x | z]`` with ``z ~ N(0, I)``."""
        from probmodels.plots import plot_image_grid

        ax = plot_image_grid(self.sample(n, seed=seed), ax=ax)
        ax.set_title("samples E[x | z], z ~ N(0, I)")
        return ax

    def plot_latent(self, x, labels=None, *, ax=None):
        """Posterior means of ``x`` in 2-D, coloured by ``labels`` (first two principal
        components when ``K > 2``)."""
        from probmodels.plots import plot_latent_scatter

        loc, _ = self.encode(x)
        return plot_latent_scatter(loc, labels, ax=ax)

    def to_arviz(self):
        raise NotImplementedError(
            "a VAE has no global posterior draws to export to ArviZ; use fit.encode(x) for "
            "q(z | x), fit.evaluate(x) for the ELBO and log-likelihood."
        )

    # ---------------------------------------------------------------- persistence
    def _state(self):
        state = self.vae.net.state_dict()  # parameters and batch-norm buffers
        arrays = {f"net/{k}": v.detach().cpu().numpy() for k, v in state.items()}
        meta = {"config": self.vae.config, "val_losses": [float(v) for v in self.val_losses],
                "state_keys": list(state)}
        return meta, arrays

    @classmethod
    def _from_state(cls, common, meta, arrays):
        config = dict(meta["config"])
        config["input_shape"] = tuple(config["input_shape"])
        # building the networks draws initial weights, which the saved ones replace: the
        # caller's global RNG is left as it was
        with torch.random.fork_rng(devices=[]):
            vae = VAE(**config)
        # load_state_dict copies into the parameters, converting to their dtype (torch's
        # default dtype when loading), so a float32 file loads into a float64 session
        state = {k: torch.from_numpy(np.array(arrays[f"net/{k}"])) for k in meta["state_keys"]}
        vae.net.load_state_dict(state)
        vae.net.eval()
        return cls(**common, vae=vae, val_losses=np.asarray(meta["val_losses"], dtype=np.float64))

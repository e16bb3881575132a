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
The likelihood of the pixels (or coordinates, for vectors of ``input_shape=(D,)``),
independent given ``z``, is

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
x     (B,)         input_shape      data (observed)
====  ===========  ===============  ==============================

The encoder and decoder are registered with ``pyro.module`` (names
``"encoder"`` and ``"decoder"``), so ``VAE.model`` / ``VAE.guide`` work with
plain ``pyro.infer.SVI`` too. :meth:`VAE.fit` trains them with
:func:`probmodels.infer.train.train` (AdamW on the module's parameters, minibatches,
validation early stopping), replaying a TorchScript trace of the ELBO at each
training step (:class:`~probmodels.infer.traced.TracedELBOLoss`; bit for bit the
eager Pyro loss).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

import numpy as np
import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F

from probmodels._validation import check_bool, check_choice, check_float, check_int
from probmodels.infer.config import TrainConfig
from probmodels.infer.pipeline import neural_config
from probmodels.infer.runtime import pyro_section
from probmodels.infer.traced import TracedELBOLoss
from probmodels.infer.train import ELBOLoss, train
from probmodels.models.vae.networks import MIN_PIXEL_SCALE, as_examples, build
from probmodels.results import FitResult, result_class

__all__ = ["ARCHITECTURES", "Architecture", "LIKELIHOODS", "Likelihood", "VAE", "VAETrainConfig"]

Likelihood = Literal["bernoulli", "gaussian", "continuous_bernoulli"]
LIKELIHOODS: tuple[str, ...] = get_args(Likelihood)
Architecture = Literal["mlp", "conv"]
ARCHITECTURES: tuple[str, ...] = get_args(Architecture)


@dataclass(frozen=True)
class VAETrainConfig(TrainConfig):
    """:class:`~probmodels.infer.config.TrainConfig` with the VAE's defaults (tuned on the
    binarized digits, docs/vae.md) and ``jit``: the ELBO's TorchScript trace."""

    steps: int = 4400
    batch_size: int = 64
    lr: float = 1e-3
    schedule: str = "cosine"  # type: ignore[assignment]
    validation: float | None = 0.1
    patience: int | None = 30
    jit: bool = True

    def __post_init__(self):
        super().__post_init__()
        check_bool(self.jit, "jit")


def _call_unregistered(fn, x, *, num_data=None):
    return fn(x, num_data, register=False)


class VAE:
    """Variational autoencoder: the Pyro model/guide pair and a fit API.

    Parameters
    ----------
    input_shape : tuple of int
        ``(channel, height, width)`` of one image, e.g. ``(1, 8, 8)``, or ``(D,)``
        for vectors (the MLP architecture).
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
        if isinstance(input_shape, (int, np.integer)) and not isinstance(input_shape, bool):
            input_shape = (input_shape,)  # type: ignore[assignment]
        if (
            isinstance(input_shape, (str, bytes))
            or not isinstance(input_shape, Sequence)
            or len(input_shape) not in (1, 3)
        ):
            raise ValueError(
                f"input_shape must be (channel, height, width) for images or (D,) for vectors, "
                f"got {input_shape!r}. For 8x8 grey images pass input_shape=(1, 8, 8)."
            )
        self.input_shape = tuple(
            check_int(s, f"input_shape[{i}]", minimum=1) for i, s in enumerate(input_shape)
        )
        self.latent_dim = check_int(latent_dim, "latent_dim", minimum=1)
        self.likelihood = check_choice(likelihood, "likelihood", LIKELIHOODS)
        self.architecture = check_choice(architecture, "architecture", ARCHITECTURES)
        self.hidden = tuple(check_int(h, f"hidden[{i}]", minimum=1) for i, h in enumerate(hidden))
        self.channels = tuple(
            check_int(c, f"channels[{i}]", minimum=1) for i, c in enumerate(channels)
        )
        self.activation = activation
        self.norm = norm
        self.dropout = check_float(dropout, "dropout", minimum=0.0, maximum=0.99)
        self.upsample = upsample
        self.analytic_kl = check_bool(analytic_kl, "analytic_kl")
        self.net = build(self)

    # -------------------------------------------------------------- networks
    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments (JSON-ready): ``VAE(**vae.config)`` rebuilds the model."""
        return {
            "input_shape": list(self.input_shape),
            "latent_dim": self.latent_dim,
            "likelihood": self.likelihood,
            "architecture": self.architecture,
            "hidden": list(self.hidden),
            "channels": list(self.channels),
            "activation": self.activation,
            "norm": self.norm,
            "dropout": self.dropout,
            "upsample": self.upsample,
            "analytic_kl": self.analytic_kl,
        }

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
        """``p_theta(x | z)`` from the decoder output ``f`` (``batch_shape + input_shape``)."""
        if self.likelihood == "bernoulli":
            base = dist.Bernoulli(logits=f)
        elif self.likelihood == "continuous_bernoulli":
            base = dist.ContinuousBernoulli(logits=f)
        else:
            base = dist.Normal(f, F.softplus(self.net.decoder.rho) + MIN_PIXEL_SCALE)  # type: ignore[arg-type]
        return base.to_event(len(self.input_shape))

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
        ``analytic_kl``, ``TraceMeanField_ELBO``), for :func:`probmodels.infer.train.train`.

        ``jit=True`` runs the ELBO's computation, in training mode with gradients,
        as a TorchScript trace (one per batch shape, see
        :class:`~probmodels.infer.traced.TracedELBOLoss`):
        the same values and gradients, bit for bit, without Pyro's per-step
        tracing in Python. ``jit=False`` runs Pyro eagerly at every step.
        """
        jit = check_bool(jit, "jit")
        elbo = pyro.infer.TraceMeanField_ELBO() if self.analytic_kl else pyro.infer.Trace_ELBO()
        # the same model and guide without pyro.module: train() optimises self.net itself
        model = functools.partial(_call_unregistered, self._model)
        guide = functools.partial(_call_unregistered, self._guide)
        if jit:
            return TracedELBOLoss(model, guide, num_data, elbo=elbo, net=self.net)
        return ELBOLoss(model, guide, num_data, elbo=elbo)

    # ----------------------------------------------------------------- fit
    def default_config(self) -> VAETrainConfig:
        """The training options of :meth:`fit` (a :class:`VAETrainConfig`)."""
        return VAETrainConfig()

    def fit(
        self,
        x: Any,
        *,
        seed: int | None = None,
        progress: bool | None = None,
        num_threads: int | None = 1,
        device: Any = None,
        resume: str | os.PathLike | None = None,
        **options,
    ) -> FitResult:
        """Fit encoder and decoder to images (or vectors) by minibatch SVI.

        The networks are initialised afresh from ``seed`` in a new ``VAE`` with
        this one's configuration (``fit.vae``); this object's networks are left
        as they were.

        Parameters
        ----------
        x : array-like
            Examples ``(data,) + input_shape`` (``(data, H, W)`` also for one-channel
            images), float, integer or boolean; in [0, 1] for the Bernoulli likelihoods.
        seed : int, optional
            Seeds the initial weights, the data order and the noise; drawn and
            recorded when omitted.
        progress : bool or None
            A progress bar; ``None`` (default): on a terminal only.
        num_threads : int or None, default 1
            Torch threads while training on the CPU (restored afterwards).
        device : str or torch.device, optional
            ``"cpu"`` (default) or ``"cuda"``.
        resume : str or Path, optional
            Continue from a checkpoint written with ``checkpoint=`` (same options and seed).
        **options
            The fields of :class:`VAETrainConfig`: ``steps`` (4400 optimiser steps,
            rounded up to whole passes over the data; on the 1,350 training digits
            200 epochs), ``batch_size`` 64, ``lr`` 1e-3 (AdamW), ``schedule`` "cosine",
            ``weight_decay``, ``grad_clip``, ``validation`` 0.1 (held out; the weights of
            the epoch with the best validation ELBO are kept), ``patience`` 30 validation
            checks (None without validation), ``ema_decay``, ``checkpoint``,
            ``checkpoint_every``, and ``jit`` (True: the ELBO's TorchScript trace, the
            same numbers bit for bit, 1.3-1.4 times faster per step on the digits).

        Returns
        -------
        VAEFit
        """
        if options.get("validation", 0.1) is None and "patience" not in options:
            options = {**options, "patience": None}  # no validation set to be patient on
        config, seed = neural_config(
            self.default_config(),
            options,
            seed=seed,
            progress=progress,
            num_threads=num_threads,
            device=device,
        )
        x = as_examples(x, self.input_shape, self.likelihood)
        with pyro_section(num_threads=None):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                vae = VAE(**self.config)
            # the networks are built in torch's default dtype; the data follow them
            x = x.to(vae.dtype)
            n = x.shape[0]
            num_train = n - (
                0 if config.validation is None else max(1, int(round(config.validation * n)))
            )
            loss = vae.elbo_loss(max(num_train, 1), jit=config.jit)
            run = train(
                loss,
                vae.net,
                x,
                config,
                seed=seed,
                resume=resume,
                description="VAE",
                fingerprint={"model": "VAE", **self.config},
            )
        diagnostics = {
            "seconds": run.seconds,
            "epochs": run.epochs,
            "best_epoch": run.best_epoch,
            "stopped_early": run.stopped_early,
            "steps": run.steps,
            "num_train": run.num_train,
            "num_val": run.num_val,
            "world_size": run.world_size,
            "best_val_loss": float(run.val_loss[run.best_epoch]) if run.val_loss.size else None,
        }
        options = {**asdict(config), "device": str(config.device)}
        return result_class("VAE")(
            draws={},
            method="svi",
            seed=seed,
            losses=run.train_loss,
            options=options,
            diagnostics=diagnostics,
            vae=vae,
            val_losses=run.val_loss,
        )

    def __repr__(self) -> str:
        return (
            f"VAE(input_shape={self.input_shape}, latent_dim={self.latent_dim}, "
            f"likelihood={self.likelihood!r}, architecture={self.architecture!r})"
        )

"""The DDPM's decoder for image data: a Gaussian discretised to the grey levels (Ho et al. eq. 13)."""

from __future__ import annotations

import pyro.distributions as dist
import torch
from pyro.distributions import constraints

__all__ = ["DiscretizedGaussian"]


class DiscretizedGaussian(dist.TorchDistribution):
    r"""A Gaussian discretised to the grid of ``num_levels`` values in ``[-1, 1]`` (Ho et al. eq. 13).

    With half bin width :math:`\delta = 1 / (K - 1)`,
    :math:`P(x) = \Phi((x + \delta - \mu)/\sigma) - \Phi((x - \delta - \mu)/\sigma)`,
    the outer bins extended to :math:`\pm\infty`. Elementwise (event shape ``()``).
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = False

    def __init__(self, loc, scale, num_levels: int, validate_args=None):
        self.loc, self.scale = torch.broadcast_tensors(torch.as_tensor(loc), torch.as_tensor(scale))
        self.num_levels = int(num_levels)
        super().__init__(self.loc.shape, torch.Size(), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        batch_shape = torch.Size(batch_shape)
        return DiscretizedGaussian(
            self.loc.expand(batch_shape), self.scale.expand(batch_shape), self.num_levels
        )

    def log_prob(self, value):
        delta = 1.0 / (self.num_levels - 1)
        upper = (value + delta - self.loc) / self.scale
        lower = (value - delta - self.loc) / self.scale
        # Phi(b) - Phi(a) = Phi(-a) - Phi(-b): use the lower tail, where log_ndtr is accurate
        flip = (lower + upper) > 0
        a = torch.where(flip, -upper, lower)
        b = torch.where(flip, -lower, upper)
        log_b = torch.special.log_ndtr(b)
        log_a = torch.special.log_ndtr(a)
        middle = log_b + torch.log1p(-torch.exp((log_a - log_b).clamp(max=-1e-12)))
        bottom = value <= -1.0 + delta / 2
        top = value >= 1.0 - delta / 2
        return torch.where(
            bottom,
            torch.special.log_ndtr(upper),
            torch.where(top, torch.special.log_ndtr(-lower), middle),
        )

    def sample(self, sample_shape=torch.Size()):
        shape = self._extended_shape(sample_shape)
        with torch.no_grad():
            x = self.loc.expand(shape) + self.scale.expand(shape) * torch.randn(
                shape, dtype=self.loc.dtype, device=self.loc.device
            )
            k = self.num_levels - 1
            return torch.round((x.clamp(-1.0, 1.0) + 1.0) * k / 2) * 2 / k - 1.0

"""Prior distributions: dtype conversion and JSON (de)serialisation.

Users build priors as ``dist.Normal(0., 10.)`` (float32) while the statistical
models compute in float64; :func:`to_dtype` rebuilds a distribution with its
parameters converted. :func:`to_json` / :func:`from_json` store a prior as its
Pyro class name and parameter values, so saved fits never pickle objects.

Supported: any ``pyro.distributions`` class whose constructor takes its
``arg_constraints`` parameters by name (Normal, HalfCauchy, HalfNormal, Gamma,
LogNormal, Exponential, StudentT, Uniform, Beta, Dirichlet, LKJCholesky,
MultivariateNormal, ...), and those wrapped by ``.expand(...)`` or
``.to_event(...)``.
"""

from __future__ import annotations

import warnings
from typing import Any

import pyro.distributions as dist
import torch
from pyro.distributions.torch_distribution import ExpandedDistribution
from torch.distributions import Independent

__all__ = ["check_finite_params", "from_json", "intake", "leaf_params", "to_dtype", "to_json"]

# constructor arguments that are not in arg_constraints but must be carried
_EXTRA_ARGS = {"LKJCholesky": ("dim", "concentration"), "LKJ": ("dim", "concentration")}


def leaf_params(d: torch.distributions.Distribution) -> dict[str, Any]:
    """The constructor arguments of a (non-wrapper) distribution, by name."""
    name = type(d).__name__
    out: dict[str, Any] = {}
    for key in _EXTRA_ARGS.get(name, ()):
        out[key] = getattr(d, key)
    for key in d.arg_constraints:
        if key in out:
            continue
        # lazily computed alternatives (e.g. MultivariateNormal's covariance when
        # built from scale_tril) are not in __dict__ until used: skip them
        if key in d.__dict__ or isinstance(getattr(type(d), key, None), property):
            out[key] = getattr(d, key)
    if name == "MultivariateNormal":
        # exactly one of the three parametrisations may be passed
        mvn: Any = d  # a MultivariateNormal (typed as its base class)
        out = {"loc": mvn.loc, "scale_tril": mvn.scale_tril}
    if not out:
        raise TypeError(
            f"cannot read the parameters of the prior {d!r}: expected a "
            "pyro.distributions object built from named parameters (e.g. "
            "dist.Normal(0., 1.)); wrap custom distributions' parameters explicitly."
        )
    return out


def _rebuild(d, convert):
    if isinstance(d, Independent):
        return _rebuild(d.base_dist, convert).to_event(d.reinterpreted_batch_ndims)
    if isinstance(d, ExpandedDistribution):
        return _rebuild(d.base_dist, convert).expand(d.batch_shape)
    cls = getattr(dist, type(d).__name__, None)
    if cls is None:
        raise TypeError(
            f"prior {type(d).__name__} is not a pyro.distributions class; use one of "
            "pyro.distributions (e.g. dist.Normal, dist.HalfCauchy)."
        )
    params = {k: convert(v) for k, v in leaf_params(d).items()}
    return cls(**params)


def to_dtype(d, dtype: torch.dtype = torch.float64, device=None):
    """Rebuild ``d`` with every floating tensor parameter in ``dtype`` on ``device``."""

    def convert(v):
        if isinstance(v, float):
            return torch.as_tensor(v, dtype=dtype, device=device)
        if torch.is_tensor(v) and v.is_floating_point():
            return v.to(dtype=dtype, device=device)
        return v

    return _rebuild(d, convert)


def check_finite_params(d, name: str) -> None:
    """Raise ``ValueError`` if a parameter of the prior ``d`` (for site ``name``) is NaN or
    infinite: ``dist.Normal(0., float('inf'))`` is an improper prior, which otherwise
    surfaces as a NaN loss and the advice to lower the learning rate."""

    def convert(v):
        t = torch.as_tensor(v) if isinstance(v, (float, int)) or torch.is_tensor(v) else None
        if t is not None and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ValueError(
                f"the {name} prior {type(d).__name__} has a parameter that is not finite "
                f"({v.tolist() if torch.is_tensor(v) else v}); an infinite location or scale is "
                f"an improper prior, which the model cannot use. Pass finite values, e.g. "
                f"dist.Normal(0., 100.) for a vague prior."
            )
        return v

    _rebuild(d, convert)


def to_json(d) -> dict[str, Any]:
    """A JSON-ready description of the prior ``d`` (class name and parameters)."""
    if isinstance(d, Independent):
        return {
            "type": "Independent",
            "base": to_json(d.base_dist),
            "reinterpreted_batch_ndims": int(d.reinterpreted_batch_ndims),
        }
    if isinstance(d, ExpandedDistribution):
        return {
            "type": "Expanded",
            "base": to_json(d.base_dist),
            "batch_shape": [int(s) for s in d.batch_shape],
        }
    params = {}
    for k, v in leaf_params(d).items():
        if torch.is_tensor(v):
            params[k] = {"tensor": v.detach().cpu().double().tolist()}
        else:
            params[k] = v
    name = type(d).__name__
    if getattr(dist, name, None) is None:
        raise TypeError(f"cannot save prior {name}: it is not a pyro.distributions class")
    return {"type": name, "params": params}


def from_json(obj: dict[str, Any], dtype: torch.dtype = torch.float64):
    """Inverse of :func:`to_json`."""
    kind = obj["type"]
    if kind == "Independent":
        return from_json(obj["base"], dtype).to_event(obj["reinterpreted_batch_ndims"])
    if kind == "Expanded":
        return from_json(obj["base"], dtype).expand(torch.Size(obj["batch_shape"]))
    cls: Any = getattr(dist, kind, None) if isinstance(kind, str) else None
    # loading never runs code: only distribution classes are reachable from a file (not
    # functions of pyro.distributions such as enable_validation)
    if not (isinstance(cls, type) and issubclass(cls, torch.distributions.Distribution)):
        raise ValueError(
            f"the file names a prior of type {kind!r}, which is not a distribution class of "
            f"pyro.distributions; the file is damaged or was not written by fit.save()."
        )
    if not isinstance(obj.get("params"), dict):
        raise ValueError(
            f"the prior {kind!r} in the file has no parameter table; the file is damaged."
        )
    params = {
        k: torch.tensor(v["tensor"], dtype=dtype) if isinstance(v, dict) else v
        for k, v in obj["params"].items()
    }
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cls(**params)  # type: ignore[arg-type]
    except (TypeError, ValueError, NotImplementedError, RuntimeError) as exc:
        raise ValueError(
            f"the prior {kind!r} in the file cannot be rebuilt from its parameters "
            f"{sorted(params)} ({type(exc).__name__}: {exc}); the file is damaged."
        ) from None


def intake(priors, sites, dtype: torch.dtype = torch.float64) -> dict[str, Any]:
    """A model's ``priors=`` argument checked and converted: ``{site: distribution}``.

    Every key must be one of ``sites`` and every value a ``pyro.distributions``
    object with finite parameters; the parameters are converted to ``dtype``.

    Raises
    ------
    TypeError
        A value that is not a distribution, or ``priors`` not a mapping.
    ValueError
        An unknown site, or a parameter that is NaN or infinite (an improper prior).
    """
    from probmodels._validation import check_keys

    priors = check_keys(priors, "priors", tuple(sites))
    for name, prior in priors.items():
        if not isinstance(prior, torch.distributions.Distribution):
            raise TypeError(
                f"priors[{name!r}] must be a pyro.distributions object such as "
                f"dist.Normal(0., 1.), got {type(prior).__name__}."
            )
    converted = {k: to_dtype(v, dtype) for k, v in priors.items()}
    for name, prior in converted.items():
        check_finite_params(prior, name)
    return converted

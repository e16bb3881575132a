"""FitResult: the draws, loss history, seed, configuration and diagnostics of a fit.

A fit is saved as one ``.npz`` file holding numeric arrays only plus a JSON
metadata string (model class, its configuration with priors written as
distribution names and parameters, the data's index); it is read back with
``allow_pickle=False``, so loading a file never runs arbitrary code. Writing
goes to a temporary file in the same folder that is then renamed over the
target, so an interrupted save never leaves a half-written file, and an
existing file is only replaced with ``overwrite=True``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from probmodels._files import write_atomic
from probmodels._validation import check_seed

__all__ = ["FitResult", "index_from_json", "index_to_json", "load"]

FORMAT_VERSION = 1

# model class name -> FitResult subclass; filled by subclasses via __init_subclass__
_REGISTRY: dict[str, type["FitResult"]] = {}


def index_to_json(index: pd.Index) -> dict[str, Any]:
    """A JSON-ready description of a pandas index that :func:`index_from_json` inverts."""
    name = index.name
    if isinstance(index, pd.RangeIndex):
        return {"kind": "range", "start": int(index.start), "stop": int(index.stop),
                "step": int(index.step), "name": name}
    if isinstance(index, pd.PeriodIndex):
        return {"kind": "period", "freq": index.freqstr, "values": [str(p) for p in index],
                "name": name}
    if isinstance(index, pd.DatetimeIndex):
        return {"kind": "datetime", "values": [ts.isoformat() for ts in index],
                "freq": index.freqstr, "tz": str(index.tz) if index.tz else None, "name": name}
    values = index.to_numpy()
    if values.dtype.kind in "iu":
        return {"kind": "int", "values": [int(v) for v in values], "name": name}
    if values.dtype.kind == "f":
        return {"kind": "float", "values": [float(v) for v in values], "name": name}
    return {"kind": "str", "values": [str(v) for v in values], "name": name}


def index_from_json(obj: dict[str, Any]) -> pd.Index:
    kind = obj["kind"]
    name = obj.get("name")
    if kind == "range":
        return pd.RangeIndex(obj["start"], obj["stop"], obj["step"], name=name)
    if kind == "period":
        return pd.PeriodIndex(obj["values"], freq=obj["freq"], name=name)
    if kind == "datetime":
        idx = pd.DatetimeIndex(obj["values"], name=name)
        if obj.get("freq"):
            idx = pd.DatetimeIndex(idx, freq=obj["freq"])
        return idx
    return pd.Index(obj["values"], name=name)


@dataclass
class FitResult:
    """Base class of every model's fit result.

    Attributes
    ----------
    draws : dict of str to numpy.ndarray
        Posterior draws of each global site, shape ``(chain, draw) + site_shape``
        (SVI draws from the guide form one chain).
    method : str
        ``"svi"`` or ``"nuts"``.
    seed : int
        The seed the fit ran with (drawn at random and recorded when not given).
    losses : numpy.ndarray
        SVI loss (negative ELBO, nats) at each step; empty for NUTS.
    options : dict
        The inference options used (steps, learning rate, warm-up, ...).
    diagnostics : dict
        Scalars such as convergence, PSIS k-hat, divergences, run time.
    sample_stats : dict of str to numpy.ndarray
        Per-draw statistics ``(chain, draw)`` (NUTS: ``diverging``).
    """

    draws: dict[str, np.ndarray]
    method: str
    seed: int
    losses: np.ndarray = field(default_factory=lambda: np.empty(0))
    options: dict[str, Any] = field(default_factory=dict)
    diagnostics: dict[str, Any] = field(default_factory=dict)
    sample_stats: dict[str, np.ndarray] = field(default_factory=dict)

    #: the model class name this result belongs to (set by subclasses)
    model_name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.model_name:
            _REGISTRY[cls.model_name] = cls

    @property
    def num_chains(self) -> int:
        return next(iter(self.draws.values())).shape[0]

    @property
    def num_draws(self) -> int:
        return next(iter(self.draws.values())).shape[1]

    def _rng(self, seed: int | None):
        """A torch generator seeded with ``seed``, or the fit's seed when ``None``."""
        import torch

        seed = check_seed(seed)
        return torch.Generator().manual_seed(self.seed if seed is None else seed)

    def _shape_out(self, array: np.ndarray) -> np.ndarray:
        """(chain * draw, ...) -> (chain, draw, ...)."""
        return array.reshape((self.num_chains, self.num_draws) + array.shape[1:])

    # -- hooks for subclasses ------------------------------------------------
    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Model-specific (JSON metadata, arrays) to save; subclasses extend."""
        return {}, {}

    @classmethod
    def _from_state(cls, common: dict[str, Any], meta: dict[str, Any],
                    arrays: dict[str, np.ndarray]) -> "FitResult":
        raise NotImplementedError

    def to_arviz(self):  # pragma: no cover - every model implements it
        raise NotImplementedError

    # -- persistence ---------------------------------------------------------
    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Save the fit to ``path`` (a ``.npz`` file; the suffix is added if missing).

        Parameters
        ----------
        overwrite : bool
            Replace an existing file. Without it an existing file raises
            ``FileExistsError`` and is left untouched.

        Returns
        -------
        pathlib.Path
            The file written.
        """
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        if path.exists() and not overwrite:
            raise FileExistsError(
                f"{path} already exists; pass overwrite=True to replace it, or choose another path."
            )
        if not path.parent.exists():
            raise FileNotFoundError(
                f"folder {path.parent} does not exist; create it first "
                f"(Path({str(path.parent)!r}).mkdir(parents=True))."
            )
        meta, extra = self._state()
        header = {
            "format_version": FORMAT_VERSION,
            "model": self.model_name,
            "method": self.method,
            "seed": int(self.seed),
            "options": _jsonable(self.options),
            "diagnostics": _jsonable(self.diagnostics),
            "draw_names": sorted(self.draws),
            "sample_stat_names": sorted(self.sample_stats),
            "model_state": meta,
        }
        arrays = {f"draws/{k}": np.asarray(v) for k, v in self.draws.items()}
        arrays.update({f"sample_stats/{k}": np.asarray(v) for k, v in self.sample_stats.items()})
        arrays["losses"] = np.asarray(self.losses, dtype=np.float64)
        arrays.update({f"extra/{k}": np.asarray(v) for k, v in extra.items()})
        arrays["__meta__"] = np.array(json.dumps(header))
        def write(tmp: str) -> None:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **arrays)

        write_atomic(path, write)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FitResult":
        """Read a fit written by :meth:`save` (no pickle)."""
        return load(path)


def load(path: str | os.PathLike) -> FitResult:
    """Load a fit saved with :meth:`FitResult.save`; returns the model's result class."""
    path = Path(path)
    if not path.exists() and path.with_name(path.name + ".npz").exists():
        path = path.with_name(path.name + ".npz")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"{path} is not a probmodels fit file ({exc}); expected a .npz written by fit.save()."
        ) from exc
    if "__meta__" not in arrays:
        raise ValueError(f"{path} has no probmodels metadata; expected a file written by fit.save().")
    header = json.loads(str(arrays.pop("__meta__")))
    if header.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} has format version {header.get('format_version')}, this probmodels "
            f"reads version {FORMAT_VERSION}; load it with the version that saved it."
        )
    model_name = header["model"]
    if model_name not in _REGISTRY:
        # importing the models registers their result classes
        import probmodels.models  # noqa: F401
    if model_name not in _REGISTRY:
        raise ValueError(f"{path} holds a fit of unknown model {model_name!r}.")
    common = {
        "draws": {k: arrays[f"draws/{k}"] for k in header["draw_names"]},
        "sample_stats": {k: arrays[f"sample_stats/{k}"] for k in header["sample_stat_names"]},
        "losses": arrays["losses"],
        "method": header["method"],
        "seed": header["seed"],
        "options": header["options"],
        "diagnostics": header["diagnostics"],
    }
    extra = {k[len("extra/"):]: v for k, v in arrays.items() if k.startswith("extra/")}
    return _REGISTRY[model_name]._from_state(common, header["model_state"], extra)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)

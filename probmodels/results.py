"""FitResult: the draws, loss history, seed, configuration and diagnostics of a fit.

A fit is saved as one ``.npz`` file holding numeric arrays only plus a JSON
metadata string (model class, its configuration with priors written as
distribution names and parameters, the data's index); it is read back with
``allow_pickle=False``, so loading a file never runs arbitrary code. Writing
goes to a temporary file in the same folder that is then renamed over the
target, so an interrupted save never leaves a half-written file, and an
existing file is only replaced with ``overwrite=True``. The data's index is
checked to read back equal before anything is written, so a saved file always
loads; a file that is not a complete fit raises ``ValueError`` on loading.
"""

from __future__ import annotations

import json
import os
import warnings
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from probmodels._files import write_atomic
from probmodels._npz import read_header, read_members
from probmodels._validation import check_int, check_seed

__all__ = [
    "FitResult",
    "build_like_saved",
    "index_from_json",
    "index_to_json",
    "load",
    "result_class",
]

FORMAT_VERSION = 1

# model class name -> FitResult subclass; filled by subclasses via __init_subclass__
_REGISTRY: dict[str, type[FitResult]] = {}
#: the largest draws x data export (log-likelihood and predictive arrays together)
MAX_EXPORT_BYTES = 8 * 2**30


def _name_to_json(name: Any) -> Any:
    """An index name as JSON; a tuple becomes ``{"tuple": [...]}``, not a list, to stay a tuple."""
    if isinstance(name, tuple):
        return {"tuple": [_name_to_json(v) for v in name]}
    if isinstance(name, np.generic):
        return name.item()
    return name


def _name_from_json(obj: Any) -> Any:
    if isinstance(obj, dict) and "tuple" in obj:
        return tuple(_name_from_json(v) for v in obj["tuple"])
    if isinstance(obj, list):
        # files written before tuple names were marked hold them as lists
        return tuple(_name_from_json(v) for v in obj)
    return obj


def _freq_to_json(index: pd.Index) -> str | None:
    """The index's frequency string, or ``None`` when it has none or the string cannot rebuild it.

    A custom business day with holidays, for instance, is written ``"C"``, which
    reads back without the holidays and no longer matches the dates.
    """
    freq = index.freq
    if freq is None:
        return None
    try:
        rebuilt = pd.tseries.frequencies.to_offset(freq.freqstr)
    except ValueError:
        rebuilt = None
    if rebuilt != freq:
        warnings.warn(
            f"the frequency {freq!r} of the {type(index).__name__} cannot be written to "
            f"the file; it is saved without a frequency (the labels are kept exactly). "
            f"Set the frequency again after loading if you need it.",
            UserWarning,
            # the caller of fit.save: save -> _state -> index_to_json -> ... -> here
            stacklevel=6,
        )
        return None
    return freq.freqstr


def _tz_name(tz) -> str:
    # zoneinfo has .key, pytz .zone; str() of either is the IANA name as well
    return str(getattr(tz, "key", None) or getattr(tz, "zone", None) or tz)


def _index_to_json(index: pd.Index) -> dict[str, Any]:
    name = _name_to_json(index.name)
    if isinstance(index, pd.MultiIndex):
        return {
            "kind": "multi",
            "names": [_name_to_json(n) for n in index.names],
            "levels": [_index_to_json(index.get_level_values(i)) for i in range(index.nlevels)],
        }
    if isinstance(index, pd.RangeIndex):
        return {
            "kind": "range",
            "start": int(index.start),
            "stop": int(index.stop),
            "step": int(index.step),
            "name": name,
        }
    if isinstance(index, pd.PeriodIndex):
        return {
            "kind": "period",
            "freq": index.freqstr,
            "values": [str(p) for p in index],
            "name": name,
        }
    if isinstance(index, pd.DatetimeIndex):
        # instants in UTC plus the zone: wall times with their offsets would mix
        # offsets across a daylight-saving change and not parse back as one zone
        utc = index if index.tz is None else index.tz_convert("UTC")
        return {
            "kind": "datetime",
            "values": [ts.isoformat() for ts in utc],
            "freq": _freq_to_json(index),
            "tz": None if index.tz is None else _tz_name(index.tz),
            "unit": index.unit,
            "name": name,
        }
    if isinstance(index, pd.TimedeltaIndex):
        # integer counts of `unit`: exact, NaT included
        return {
            "kind": "timedelta",
            "values": [int(v) for v in index.asi8],
            "unit": index.unit,
            "freq": _freq_to_json(index),
            "name": name,
        }
    values = index.to_numpy()
    if values.dtype.kind in "iu":
        return {"kind": "int", "values": [int(v) for v in values], "name": name}
    if values.dtype.kind == "f":
        return {"kind": "float", "values": [float(v) for v in values], "name": name}
    if values.dtype.kind == "b":
        return {"kind": "bool", "values": [bool(v) for v in values], "name": name}
    return {"kind": "str", "values": [str(v) for v in values], "name": name}


def index_to_json(index: pd.Index) -> dict[str, Any]:
    """A JSON-ready description of a pandas index that :func:`index_from_json` inverts.

    Range, integer, float, boolean and string indexes, ``PeriodIndex``,
    ``DatetimeIndex`` (time zone and frequency included), ``TimedeltaIndex``
    and ``MultiIndex`` of these are written exactly, with their names (tuple
    names included). A frequency that its string cannot rebuild (a custom
    business day with holidays) is dropped with a ``UserWarning``; the labels
    are kept.

    Raises
    ------
    ValueError
        If the index would not read back equal (e.g. an object index of mixed
        types, or a time zone without a name), so that no file is written that
        cannot be loaded or loads different labels.
    """
    obj = _index_to_json(index)
    try:
        back = index_from_json(json.loads(json.dumps(obj)))
        same = back.equals(index) and list(back.names) == list(index.names)
        if same and isinstance(index, pd.DatetimeIndex):
            same = str(back.tz) == str(index.tz)
        problem = "" if same else f"it would read back as {back[:3]!r}"
    except Exception as exc:  # any failure to rebuild is a file that could not be loaded
        problem = f"it would not read back ({type(exc).__name__}: {exc})"
    if problem:
        raise ValueError(
            f"cannot save the data's {type(index).__name__} (dtype {index.dtype}, names "
            f"{list(index.names)}, first labels {list(index[:3])}): {problem}. Save works with "
            f"range, integer, float, string, period, datetime (named time zone), timedelta "
            f"and multi indexes; convert the labels to one of those before fitting, e.g. "
            f"data.reset_index(drop=True), data.index = data.index.astype(str) or "
            f"data.index = data.index.tz_convert('UTC')."
        )
    return obj


def index_from_json(obj: dict[str, Any]) -> pd.Index:
    """Rebuild the index described by :func:`index_to_json`."""
    kind = obj["kind"]
    name = _name_from_json(obj.get("name"))
    if kind == "multi":
        levels = [index_from_json(level) for level in obj["levels"]]
        return pd.MultiIndex.from_arrays(levels, names=[_name_from_json(n) for n in obj["names"]])
    if kind == "range":
        return pd.RangeIndex(obj["start"], obj["stop"], obj["step"], name=name)
    if kind == "period":
        return pd.PeriodIndex(obj["values"], freq=obj["freq"], name=name)
    if kind == "datetime":
        if obj.get("tz"):
            # also reads older files, which wrote wall times with their offsets
            idx = pd.DatetimeIndex(pd.to_datetime(obj["values"], utc=True), name=name)
            idx = idx.tz_convert(obj["tz"])
        else:
            idx = pd.DatetimeIndex(obj["values"], name=name)
        if obj.get("unit"):
            idx = idx.as_unit(obj["unit"])
        if obj.get("freq"):
            idx = pd.DatetimeIndex(idx, freq=obj["freq"])
        return idx
    if kind == "timedelta":
        values = np.array(obj["values"], dtype=np.int64).view(f"m8[{obj['unit']}]")
        return pd.TimedeltaIndex(values, freq=obj.get("freq"), name=name)
    return pd.Index(obj["values"], name=name)


@dataclass(repr=False)
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
    def _from_state(
        cls, common: dict[str, Any], meta: dict[str, Any], arrays: dict[str, np.ndarray]
    ) -> FitResult:
        raise NotImplementedError

    def to_arviz(
        self, *args: Any, **kwargs: Any
    ) -> Any:  # pragma: no cover - every model implements it
        raise NotImplementedError

    # -- the shared surface ----------------------------------------------------
    def _summary_variables(self) -> tuple[dict[str, np.ndarray], dict[str, list]]:
        """``({name: (chain, draw, ...)}, {name: [labels of each axis]})`` for :meth:`summary`."""
        return dict(self.draws), {}

    def summary(self, *, hdi_prob: float = 0.94) -> pd.DataFrame:
        """One row per scalar parameter: ``mean``, ``sd``, the HDI bounds, ``ess_bulk``,
        ``ess_tail`` and ``r_hat`` (NUTS only: one chain of independent draws has none), as
        ``arviz.summary`` names them (:func:`probmodels.diagnostics.summarize`)."""
        from probmodels.diagnostics import summarize

        draws, coords = self._summary_variables()
        return summarize(
            draws, coords=coords, hdi_prob=hdi_prob, chains_diagnostics=self.method == "nuts"
        )

    def _thinned(self, num_draws: int) -> Self:
        """A copy keeping ``num_draws`` evenly spaced draws of each chain (for exports that
        would be too large with all of them)."""
        num_draws = check_int(num_draws, "num_draws", minimum=1)
        keep = np.unique(
            np.linspace(0, self.num_draws - 1, min(num_draws, self.num_draws)).round().astype(int)
        )
        return replace(
            self,
            draws={k: np.asarray(v)[:, keep] for k, v in self.draws.items()},
            sample_stats={k: np.asarray(v)[:, keep] for k, v in self.sample_stats.items()},
        )

    def _check_export_size(self, numbers_per_draw: int, groups: str) -> None:
        """Refuse, before computing anything, an export whose draws x data arrays would
        exceed :data:`MAX_EXPORT_BYTES`, with the size and the option that makes it fit."""
        draws = self.num_chains * self.num_draws
        size = 8 * draws * numbers_per_draw
        if size > MAX_EXPORT_BYTES:
            fit_draws = max(1, MAX_EXPORT_BYTES // (8 * numbers_per_draw * self.num_chains))
            raise ValueError(
                f"to_arviz would build {size / 2**30:.1f} GB of {groups} ({draws} draws x "
                f"{numbers_per_draw:,} values), more than the {MAX_EXPORT_BYTES / 2**30:.0f} GB "
                f"limit; pass num_draws={fit_draws} (or fewer) to export evenly spaced draws of "
                f"each chain, or fit a subset of the data."
            )

    def _describe(self) -> str:
        """The model-specific middle of the repr (e.g. the data's shape)."""
        return ""

    def __repr__(self) -> str:
        parts = [f"method={self.method!r}"]
        described = self._describe()
        if described:
            parts.append(described)
        if self.draws:
            parts.append(f"{self.num_chains} chain(s) x {self.num_draws} draws")
        parts.append(f"seed={self.seed}")
        d = self.diagnostics
        for key, fmt in (
            ("khat", "k-hat={:.2f}"),
            ("max_rhat", "max R-hat={:.3f}"),
            ("divergences", "divergences={}"),
            ("seconds", "{:.2f} s"),
        ):
            value = d.get(key)
            if isinstance(value, (int, float, np.floating, np.integer)) and np.isfinite(value):
                parts.append(fmt.format(value))
        return f"{type(self).__name__}({', '.join(parts)})"

    def plot_loss(self, *, ax=None, window: int = 50):
        """The training loss at each step (SVI) or epoch, with a running mean; returns the Axes."""
        from probmodels.plots import plot_loss

        if np.asarray(self.losses).size == 0:
            raise ValueError(
                f"this fit has no loss history (method={self.method!r}: only SVI-trained fits "
                f"have one); fit with method='svi' to see the loss."
            )
        return plot_loss(self.losses, ax=ax, window=window)

    # -- persistence ---------------------------------------------------------
    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Save the fit to ``path`` (a ``.npz`` file; the suffix is added if missing).

        Parameters
        ----------
        overwrite : bool
            Replace an existing file (keeping its permission bits). Without it
            an existing file raises ``FileExistsError`` and is left untouched,
            also one that appears while this one is being written.

        Returns
        -------
        pathlib.Path
            The file written.

        Raises
        ------
        ValueError
            If the data's index cannot be written so that it reads back equal
            (see :func:`index_to_json`); nothing is written then.
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
        header["shapes"] = {k: list(np.shape(v)) for k, v in arrays.items()}
        arrays["__meta__"] = np.array(json.dumps(header))

        def write(tmp: str) -> None:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]  # (numpy's stub types allow_pickle as **kwds)

        # overwrite=False also guards the move into place: a file that appears
        # while this one is written is not replaced
        write_atomic(path, write, overwrite=overwrite)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> FitResult:
        """Read a fit written by :meth:`save` (no pickle).

        Called on a model's result class (e.g. ``ARFit.load``), the file must
        hold a fit of that class, else ``TypeError``; :func:`probmodels.load`
        reads any model's fit.
        """
        return _load(path, cls)


_EXPECTED = "expected a .npz file written by fit.save()"
# header entries every file of FORMAT_VERSION has, and their JSON types
_HEADER_TYPES: dict[str, type] = {
    "model": str,
    "method": str,
    "seed": int,
    "options": dict,
    "diagnostics": dict,
    "draw_names": list,
    "sample_stat_names": list,
    "model_state": dict,
}


def result_class(model_name: str) -> Any:
    """The result class registered for ``model_name`` (each result class registers itself
    when its module is imported), so that a model builds its result without importing
    the module that defines it (which imports the model). Typed ``Any``: the class is a
    subclass of :class:`FitResult` with its model's own fields, known only at run time."""
    try:
        return _REGISTRY[model_name]
    except KeyError:
        raise LookupError(
            f"no result class registered for {model_name!r}; import its package first "
            f"(e.g. import probmodels.models). Registered: {sorted(_REGISTRY)}."
        ) from None


def build_like_saved(build, network, saved: dict[str, Any]):
    """``build()`` (a model whose ``network(model)`` is a torch module), only once the
    network it builds is known to match the ``saved`` weights (name -> array).

    The model is first built on torch's meta device, which allocates nothing, so a
    file whose configuration asks for a network of billions of weights is refused
    with a ``ValueError`` before any memory is taken; then built for real with the
    caller's random state left as it was (the saved weights replace the initial ones).
    """
    import torch

    with torch.device("meta"), torch.random.fork_rng(devices=[]):
        probe = build()
    shapes = {k: tuple(v.shape) for k, v in network(probe).state_dict().items()}
    saved_shapes = {k: tuple(np.shape(v)) for k, v in saved.items()}
    if shapes != saved_shapes:
        built = sum(int(np.prod(v)) for v in shapes.values())
        held = sum(int(np.prod(v)) for v in saved_shapes.values())
        differ = sorted(set(shapes) ^ set(saved_shapes)) or sorted(
            k for k in shapes if shapes[k] != saved_shapes[k]
        )
        raise ValueError(
            f"the saved configuration builds a network of {built:,} parameters in "
            f"{len(shapes)} arrays, but the saved weights hold {held:,} in {len(saved)} "
            f"(first difference: {differ[0]!r}); the configuration and the weights do not belong "
            f"together"
        )
    with torch.random.fork_rng(devices=[]):
        return build()


def load(path: str | os.PathLike) -> FitResult:
    """Load a fit saved with :meth:`FitResult.save`; returns the model's result class.

    Raises
    ------
    FileNotFoundError
        If neither ``path`` nor ``path + ".npz"`` exists.
    ValueError
        If the file is not a complete fit written by :meth:`FitResult.save`
        (another kind of file, a truncated or corrupt one, another format
        version or an unknown model).
    """
    return _load(path, FitResult)


def _load(path: str | os.PathLike, expected: type[FitResult]) -> FitResult:
    path = Path(path)
    if not path.exists() and path.with_name(path.name + ".npz").exists():
        path = path.with_name(path.name + ".npz")
    if not path.exists():
        raise FileNotFoundError(
            f"no fit file at {path} (nor {path.name}.npz next to it); check the path, "
            f"the file is the one fit.save() returned."
        )
    if path.is_dir():
        raise ValueError(f"{path} is a folder; {_EXPECTED}.")
    # only the metadata member first: nothing else is decompressed before it is checked
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        with open(path, "rb") as fh:
            npy = fh.read(6) == b"\x93NUMPY"
        kind = (
            "a single NumPy array (.npy), not a probmodels fit file"
            if npy
            else f"not a probmodels fit file ({type(exc).__name__}: {exc})"
        )
        raise ValueError(f"{path} is {kind}; {_EXPECTED}.") from exc
    with zf:
        header = read_header(zf, path, _EXPECTED)
        return _from_header(path, zf, header, expected)


def _from_header(
    path: Path, zf: zipfile.ZipFile, header: Any, expected: type[FitResult]
) -> FitResult:
    if not isinstance(header, dict):
        raise ValueError(
            f"{path} has probmodels metadata of type {type(header).__name__}, expected a JSON "
            f"object; {_EXPECTED}."
        )
    if header.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} has format version {header.get('format_version')}, this probmodels "
            f"reads version {FORMAT_VERSION}; load it with the version that saved it."
        )
    bad = [
        f"{k} (missing)"
        if k not in header
        else f"{k} (expected a JSON {t.__name__}, found {type(header[k]).__name__})"
        for k, t in _HEADER_TYPES.items()
        if not isinstance(header.get(k), t)
    ]
    if bad:
        raise ValueError(
            f"{path} has incomplete metadata, bad entries: {', '.join(bad)}; {_EXPECTED}."
        )
    model_name = header["model"]
    if model_name not in _REGISTRY:
        raise ValueError(
            f"{path} holds a fit of unknown model {model_name!r}; known models: "
            f"{sorted(_REGISTRY)}. Load it with the probmodels that saved it."
        )
    result_cls = _REGISTRY[model_name]
    if not issubclass(result_cls, expected):
        raise TypeError(
            f"{path} holds a fit of class {result_cls.__name__} (model {model_name}), not "
            f"{expected.__name__}; load it with probmodels.load(path), which returns the "
            f"class the file holds."
        )
    names = {"draws": header["draw_names"], "sample_stats": header["sample_stat_names"]}
    if not all(isinstance(k, str) for keys in names.values() for k in keys):
        raise ValueError(
            f"{path} has non-string entries in draw_names or sample_stat_names "
            f"({names}); {_EXPECTED}."
        )
    members = {n[: -len(".npy")] for n in zf.namelist() if n.endswith(".npy")}
    missing = [
        f"{group}/{k}"
        for group, keys in names.items()
        for k in keys
        if f"{group}/{k}" not in members
    ]
    missing += [] if "losses" in members else ["losses"]
    if missing:
        raise ValueError(f"{path} lacks the arrays {missing}; the file is incomplete, {_EXPECTED}.")
    # the members this fit reads, and no other (an unknown member is never decompressed)
    wanted = (
        [f"{group}/{k}" for group, keys in names.items() for k in keys]
        + ["losses"]
        + sorted(m for m in members if m.startswith("extra/"))
    )
    # a member no fit writes is refused, by its name alone (never decompressed): a fit file
    # with more in it was written by something else, or crafted (a zip bomb under a new name)
    unknown = sorted(set(zf.namelist()) - {f"{m}.npy" for m in wanted} - {"__meta__.npy"})
    if unknown:
        shown = ", ".join(repr(n) for n in unknown[:10]) + (" ..." if len(unknown) > 10 else "")
        raise ValueError(
            f"{path} holds members that no {model_name} fit file has: {shown} "
            f"({len(unknown)} in all, none of them read): the file was altered or written by "
            f"another program; {_EXPECTED}."
        )
    shapes = header.get("shapes") if isinstance(header.get("shapes"), dict) else None
    arrays = read_members(zf, wanted, path, _EXPECTED, shapes)
    common = {
        "draws": {k: arrays[f"draws/{k}"] for k in names["draws"]},
        "sample_stats": {k: arrays[f"sample_stats/{k}"] for k in names["sample_stats"]},
        "losses": arrays["losses"],
        "method": header["method"],
        "seed": header["seed"],
        "options": header["options"],
        "diagnostics": header["diagnostics"],
    }
    extra = {k[len("extra/") :]: v for k, v in arrays.items() if k.startswith("extra/")}
    try:
        return result_cls._from_state(common, header["model_state"], extra)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ValueError(
            f"{path} has an incomplete or corrupt {model_name} state "
            f"({type(exc).__name__}: {exc}); {_EXPECTED}."
        ) from exc


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

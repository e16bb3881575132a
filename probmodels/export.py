"""Export posterior draws to ArviZ without importing torch.

ArviZ changed its container at 1.0: ArviZ < 1 holds results in an
``arviz.InferenceData``, ArviZ >= 1 (``arviz_base``) in an
``xarray.DataTree`` whose child nodes are the groups. This module builds the
groups itself as plain :class:`xarray.Dataset` objects with one code path, and
only the final wrapping depends on the installed ArviZ, so both versions see
the same variables, dims, coords and attributes.

Every sampled group (``posterior``, ``posterior_predictive``,
``log_likelihood``, ``sample_stats``) holds arrays of shape
``(chain, draw, *event)``; ``observed_data`` holds arrays of shape ``event``.
A variable's ``event`` dims are named by ``dims[name]``; unnamed ones become
``{name}_dim_{i}`` as in ArviZ. Dims without coords get integer positions
``0, 1, ...``.

The module imports numpy, pandas and xarray only; ArviZ is imported on first
use, and torch never.
"""

from __future__ import annotations

import datetime
import functools
import importlib.metadata
import numbers
import os
import pathlib
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from probmodels._files import write_atomic

__all__ = [
    # conversion
    "to_arviz",
    "arviz_version",
    # files
    "save_netcdf",
    "load_netcdf",
    # access that works for InferenceData and DataTree alike
    "group_names",
    "get_group",
    # model comparison that works with ArviZ < 1 and >= 1 alike
    "compare_loo",
    "COMPARE_COLUMNS",
]

SAMPLE_DIMS = ("chain", "draw")
_SAMPLED_GROUPS = ("posterior", "posterior_predictive", "log_likelihood", "sample_stats")
_DATA_GROUPS = ("observed_data",)
# order in which groups are written, as in ArviZ's schema
_GROUP_ORDER = (
    "posterior",
    "posterior_predictive",
    "log_likelihood",
    "sample_stats",
    "observed_data",
)
COMPARE_COLUMNS = ("rank", "elpd_loo", "p_loo", "elpd_diff", "weight", "se", "dse", "warning")
"""The columns of :func:`compare_loo`, in order, under every ArviZ version."""
# every group name of ArviZ's schema; a file with none of them is not ArviZ data
_ARVIZ_GROUPS = _GROUP_ORDER + (
    "prior",
    "prior_predictive",
    "sample_stats_prior",
    "predictions",
    "constant_data",
    "predictions_constant_data",
    "log_prior",
    "unconstrained_posterior",
    "unconstrained_prior",
    "warmup_posterior",
    "warmup_posterior_predictive",
    "warmup_predictions",
    "warmup_log_likelihood",
    "warmup_sample_stats",
)
_NETCDF_ENGINE = "h5netcdf"
# ArviZ 0.23 prints this on import; it concerns ArviZ's own refactor, not our users
_ARVIZ_REFACTOR_WARNING = r"\s*ArviZ is undergoing a major refactor"


@functools.cache
def _arviz():
    """Import ArviZ once, hiding the 0.23 refactor announcement."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_ARVIZ_REFACTOR_WARNING, category=FutureWarning)
        import arviz

    return arviz


def arviz_version() -> tuple[int, int]:
    """Return ``(major, minor)`` of the installed ArviZ.

    Read from the package metadata, so ArviZ itself is not imported.

    Returns
    -------
    tuple of int
        For example ``(0, 23)`` or ``(1, 3)``.
    """
    try:
        version = importlib.metadata.version("arviz")
    except importlib.metadata.PackageNotFoundError:
        version = _arviz().__version__
    match = re.match(r"(\d+)\.(\d+)", version)
    if match is None:
        raise RuntimeError(
            f"expected an ArviZ version string like '0.23.4' or '1.3.0', received "
            f"{version!r}; reinstall arviz with pip"
        )
    return int(match.group(1)), int(match.group(2))


def _is_datatree_arviz() -> bool:
    return arviz_version() >= (1, 0)


# --------------------------------------------------------------------------
# validation and Dataset construction
# --------------------------------------------------------------------------


def _coord_values(dim: str, values: Any) -> np.ndarray:
    """Turn user coordinate values into a 1-D array netCDF can store."""
    if isinstance(values, pd.MultiIndex):
        raise TypeError(
            f"expected coords[{dim!r}] to be a flat index, received a pandas MultiIndex "
            f"with levels {list(values.names)}; give each level its own dim instead"
        )
    if not isinstance(values, pd.Index):
        array = np.asarray(values)
        if array.ndim != 1:
            raise ValueError(
                f"expected coords[{dim!r}] to be one-dimensional, received an array of "
                f"shape {array.shape}; pass one value per position along {dim!r}"
            )
        values = pd.Index(array)
    if isinstance(values, pd.PeriodIndex):
        # netCDF has no period type; a period is stored as the time it starts
        values = values.to_timestamp(how="start")
    if isinstance(values, pd.DatetimeIndex):
        if values.tz is not None:
            raise TypeError(
                f"expected coords[{dim!r}] to be timezone-naive, received a DatetimeIndex "
                f"in {values.tz}; convert it with .tz_convert(None) (UTC) or "
                f".tz_localize(None) (wall time)"
            )
        return values.to_numpy()
    if isinstance(values, pd.TimedeltaIndex):
        return values.to_numpy()  # netCDF stores timedelta64 with units, as xarray encodes it
    if values.inferred_type in ("string", "empty"):
        return np.asarray(values, dtype=object if len(values) else str)
    if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
        if pd.api.types.is_complex_dtype(values.dtype):
            raise TypeError(
                f"expected real coords[{dim!r}], received dtype {values.dtype}; "
                f"netCDF cannot store complex coordinates"
            )
        return values.to_numpy()
    raise TypeError(
        f"expected coords[{dim!r}] to hold integers, floats, strings, datetimes or "
        f"periods, received dtype {values.dtype} (inferred {values.inferred_type!r}); "
        f"convert the values to one of those types"
    )


def _shape_words(dims: Sequence[str], sizes: Mapping[str, int] | None = None) -> str:
    if sizes is None:
        return "(" + ", ".join(dims) + ")"
    return "(" + ", ".join(f"{d}={sizes[d]}" if d in sizes else d for d in dims) + ")"


def _check_numeric(group: str, name: str, array: np.ndarray) -> None:
    kind = array.dtype.kind
    if kind not in "biuf":
        raise TypeError(
            f"expected {group} variable {name!r} to be a real numeric array (bool, "
            f"integer or float), received dtype {array.dtype}; convert it with "
            f"np.asarray(..., dtype=float) or drop it"
        )


def _var_dims(
    group: str,
    name: str,
    array: np.ndarray,
    dims: Mapping[str, Sequence[str]],
) -> tuple[str, ...]:
    """Full dims of one variable, sample dims included for sampled groups."""
    sample = SAMPLE_DIMS if group in _SAMPLED_GROUPS else ()
    # "group/name" overrides "name" for one group (e.g. a pointwise log-likelihood
    # over (data,) of an observation x that is (data, feature))
    key = f"{group}/{name}" if f"{group}/{name}" in dims else name
    if key in dims:
        name = key
        event = tuple(dims[name])
        if isinstance(dims[name], str):
            raise TypeError(
                f"expected dims[{name!r}] to be a sequence of dim names, received the "
                f"string {dims[name]!r}; write [{dims[name]!r}]"
            )
        clash = [d for d in event if d in SAMPLE_DIMS]
        if clash:
            raise ValueError(
                f"expected dims[{name!r}] to list only the dims after (chain, draw), "
                f"received {list(event)}; remove {clash}, the sample dims are added "
                f"for you"
            )
        expected = sample + event
        if array.ndim != len(expected):
            raise ValueError(
                f"{group} variable {name!r}: expected an array of shape "
                f"{_shape_words(expected)} ({len(expected)} axes), received shape "
                f"{array.shape} ({array.ndim} axes); fix dims[{name!r}] or the array"
            )
        return expected
    if array.ndim < len(sample):
        raise ValueError(
            f"{group} variable {name!r}: expected an array of shape "
            f"(chain, draw, ...), received shape {array.shape}; add the chain axis "
            f"with array[None] if there is a single chain"
        )
    n_event = array.ndim - len(sample)
    return sample + tuple(f"{name}_dim_{i}" for i in range(n_event))


def _build_groups(
    groups: Mapping[str, Mapping[str, Any] | None],
    coords: Mapping[str, Any],
    dims: Mapping[str, Sequence[str]],
    attrs: Mapping[str, Any],
) -> dict[str, xr.Dataset]:
    coord_values = {dim: _coord_values(dim, values) for dim, values in coords.items()}
    # size and origin of each event dim, shared across groups like the coords are
    event_sizes: dict[str, tuple[int, str]] = {
        dim: (len(values), f"coords[{dim!r}]") for dim, values in coord_values.items()
    }
    seen_vars: set[str] = set()
    datasets = {}
    for group in _GROUP_ORDER:
        variables = groups.get(group)
        if variables is None:
            continue
        if not isinstance(variables, Mapping):
            raise TypeError(
                f"expected {group} to be a mapping of variable name to array, received "
                f"{type(variables).__name__}; pass e.g. {{'mu': draws}}"
            )
        sample_sizes: dict[str, tuple[int, str]] = {}
        data_vars = {}
        for name, value in variables.items():
            array = np.asarray(value)
            _check_numeric(group, name, array)
            var_dims = _var_dims(group, name, array, dims)
            seen_vars.update((name, f"{group}/{name}"))
            for axis, (dim, size) in enumerate(zip(var_dims, array.shape)):
                # chain and draw may differ between groups, event dims may not
                per_group = dim in SAMPLE_DIMS and dim not in coord_values
                sizes = sample_sizes if per_group else event_sizes
                if dim not in sizes:
                    sizes[dim] = (size, f"{group} variable {name!r}")
                    continue
                known, origin = sizes[dim]
                if known != size:
                    expected = tuple(
                        known if d == dim else s for d, s in zip(var_dims, array.shape)
                    )
                    raise ValueError(
                        f"{group} variable {name!r}: expected shape {expected} "
                        f"{_shape_words(var_dims)}, received shape {array.shape}; "
                        f"dim {dim!r} (axis {axis}) has size {size} but {origin} gives "
                        f"it size {known}; make the array and {origin} agree"
                    )
            data_vars[name] = (var_dims, array)
        ds = xr.Dataset(data_vars)
        ds = ds.assign_coords(
            {
                dim: coord_values[dim] if dim in coord_values else np.arange(ds.sizes[dim])
                for dim in ds.dims
            }
        )
        ds.attrs.update(attrs)
        datasets[group] = ds
    unknown = sorted(set(dims) - seen_vars)
    if unknown:
        warnings.warn(
            f"dims names variables {unknown} that are in no group; they were ignored. "
            f"Check the spelling against the variables {sorted(seen_vars)}",
            UserWarning,
            stacklevel=3,
        )
    return datasets


def _group_attrs(attrs: Mapping[str, Any] | None) -> dict[str, Any]:
    out = {
        "created_at": datetime.datetime.now(datetime.UTC).isoformat(),
        "arviz_version": ".".join(map(str, arviz_version())),
        "creation_library": "probmodels",
    }
    for key, value in (attrs or {}).items():
        if not isinstance(key, str):
            raise TypeError(
                f"expected attrs keys to be strings, received {key!r} of type {type(key).__name__}"
            )
        if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (str, numbers.Integral, numbers.Real)
        ):
            raise TypeError(
                f"expected attrs[{key!r}] to be a str, int or float (netCDF attribute "
                f"types), received {value!r} of type {type(value).__name__}; convert "
                f"it, e.g. str(value) or int(flag)"
            )
        out[key] = value  # type: ignore[assignment]
    return out


def to_arviz(
    *,
    posterior: Mapping[str, np.ndarray],
    posterior_predictive: Mapping[str, np.ndarray] | None = None,
    log_likelihood: Mapping[str, np.ndarray] | None = None,
    observed_data: Mapping[str, np.ndarray] | None = None,
    sample_stats: Mapping[str, np.ndarray] | None = None,
    coords: Mapping[str, Sequence | pd.Index | np.ndarray] | None = None,
    dims: Mapping[str, Sequence[str]] | None = None,
    attrs: Mapping[str, str | int | float] | None = None,
):
    """Collect draws into the installed ArviZ's container.

    Parameters
    ----------
    posterior : mapping of str to array_like
        Posterior draws, each of shape ``(chain, draw, *event)``. Must hold at
        least one variable.
    posterior_predictive : mapping of str to array_like, optional
        Replicated data, each of shape ``(chain, draw, *event)``.
    log_likelihood : mapping of str to array_like, optional
        Pointwise log-likelihood, each of shape ``(chain, draw, *obs)`` with one
        entry per observation (not summed, or LOO loses its points).
        ``-inf`` is allowed.
    observed_data : mapping of str to array_like, optional
        Observations, each of shape ``event`` (no chain or draw axis).
    sample_stats : mapping of str to array_like, optional
        Per-draw statistics (e.g. ``"lp"``, ``"diverging"``), each of shape
        ``(chain, draw, *event)``.
    coords : mapping of str to sequence, pandas.Index or ndarray, optional
        Coordinate values per dim name. A ``PeriodIndex`` is stored as the
        start of each period (``datetime64``); a ``DatetimeIndex`` stays
        ``datetime64``; integers, floats and strings keep their type. Dims
        without coords get ``0, 1, ...``.
    dims : mapping of str to sequence of str, optional
        Names of the event dims of each variable, i.e. the dims after
        ``(chain, draw)`` for sampled groups and all dims for
        ``observed_data``. Keyed by variable name across all groups; a key
        ``"group/name"`` (e.g. ``"log_likelihood/x"``) overrides it for one group.
    attrs : mapping of str to str, int or float, optional
        Attributes added to every group, e.g.
        ``{"inference_library": "pyro", "probmodels_method": "svi"}``. Each
        group also gets ``created_at``, ``arviz_version`` and
        ``creation_library``.

    Returns
    -------
    arviz.InferenceData or xarray.DataTree
        ``InferenceData`` with ArviZ < 1, a ``DataTree`` whose children are the
        groups with ArviZ >= 1. Use :func:`group_names` and :func:`get_group`
        to read either.

    Raises
    ------
    ValueError
        If an array's rank does not match its dims, if a dim's size differs
        between arrays or from its coords, or if ``posterior`` is empty.
    TypeError
        If an array is not real numeric, or a coord or attribute value has a
        type netCDF cannot store.
    """
    if not isinstance(posterior, Mapping) or not posterior:
        raise ValueError(
            f"expected posterior to be a non-empty mapping of variable name to draws of "
            f"shape (chain, draw, ...), received {posterior!r:.80}"
        )
    datasets = _build_groups(
        {
            "posterior": posterior,
            "posterior_predictive": posterior_predictive,
            "log_likelihood": log_likelihood,
            "observed_data": observed_data,
            "sample_stats": sample_stats,
        },
        coords or {},
        dims or {},
        _group_attrs(attrs),
    )
    if _is_datatree_arviz():
        return xr.DataTree.from_dict(datasets)
    return _arviz().InferenceData(**datasets)


# --------------------------------------------------------------------------
# access and files
# --------------------------------------------------------------------------


def _check_container(data: Any) -> None:
    if isinstance(data, xr.DataTree):
        return
    if "arviz" in type(data).__module__ and hasattr(data, "_groups"):
        return
    raise TypeError(
        f"expected an arviz.InferenceData or xarray.DataTree, received "
        f"{type(data).__name__}; build one with probmodels.export.to_arviz"
    )


def group_names(data) -> list[str]:
    """Names of the groups present, in stored order.

    Parameters
    ----------
    data : arviz.InferenceData or xarray.DataTree

    Returns
    -------
    list of str
    """
    _check_container(data)
    if isinstance(data, xr.DataTree):
        return list(data.children)
    return list(data.groups())


def get_group(data, name: str) -> xr.Dataset:
    """Return one group as an :class:`xarray.Dataset`.

    Parameters
    ----------
    data : arviz.InferenceData or xarray.DataTree
    name : str
        Group name, e.g. ``"posterior"``.

    Returns
    -------
    xarray.Dataset

    Raises
    ------
    KeyError
        If the group is absent; the message lists the groups present.
    """
    names = group_names(data)
    if name not in names:
        raise KeyError(f"expected one of the groups {names}, received {name!r}")
    if isinstance(data, xr.DataTree):
        return data[name].to_dataset()
    return data[name]


def compare_loo(models: Mapping[str, Any], *, var_name: str | None = None) -> pd.DataFrame:
    """Rank models by PSIS-LOO with ``arviz.compare``, the same table under every ArviZ.

    ArviZ < 1 is called as ``az.compare(models, ic="loo")``; ArviZ >= 1 has no
    ``ic`` argument (LOO is the only criterion) and names and signs its columns
    differently, so its table is renamed to the ArviZ < 1 names. Weights are
    stacking weights in both.

    Parameters
    ----------
    models : mapping of str to arviz.InferenceData or xarray.DataTree
        Model name -> data with a pointwise ``log_likelihood`` group, all
        scored on the same observations. At least one model.
    var_name : str, optional
        The ``log_likelihood`` variable to compare on when the data hold more
        than one.

    Returns
    -------
    pandas.DataFrame
        Indexed by model name (index name ``"model"``), best model first, with
        the columns :data:`COMPARE_COLUMNS`:

        - ``rank``: 0 for the best model (highest ``elpd_loo``), then 1, 2, ...
        - ``elpd_loo``: PSIS-LOO estimate of the expected log pointwise
          predictive density (log scale, higher is better).
        - ``p_loo``: effective number of parameters.
        - ``elpd_diff``: ``elpd_loo`` of the best model minus this model's,
          so ``>= 0`` and 0 for the best (ArviZ >= 1 reports the negative).
        - ``weight``: stacking weight; the weights sum to 1.
        - ``se``: standard error of ``elpd_loo``.
        - ``dse``: standard error of ``elpd_diff`` (0 for the best).
        - ``warning``: ``True`` when a Pareto k of this model exceeds ArviZ's
          threshold, so its ``elpd_loo`` may be biased (ArviZ >= 1: a non-empty
          ``diag_elpd``).

        ArviZ >= 1's ``p_worse`` and ``diag_diff`` and ArviZ < 1's ``scale``
        (always ``"log"``) are left out. ``se`` follows each version's own
        formula: ArviZ >= 1 uses ``ddof=1``, so it is slightly larger.

    Raises
    ------
    ValueError
        If ``models`` is empty or not a mapping.
    TypeError
        If a model name is not a string or a value is not an ArviZ container.
    """
    if not isinstance(models, Mapping) or not models:
        raise ValueError(
            f"expected models to be a non-empty mapping of model name to ArviZ data, "
            f"received {models!r:.80}; pass e.g. {{'AR(1)': data1, 'AR(2)': data2}}"
        )
    for name, data in models.items():
        if not isinstance(name, str):
            raise TypeError(
                f"expected model names to be strings, received {name!r} of type "
                f"{type(name).__name__}; name the models e.g. f'AR({{p}})'"
            )
        try:
            _check_container(data)
        except TypeError as exc:
            raise TypeError(f"models[{name!r}]: {exc}") from None
    az = _arviz()
    with warnings.catch_warnings():
        # ArviZ 0.23 sorts its table with inplace=True, which pandas 3.1 deprecates
        warnings.filterwarnings("ignore", message="The inplace keyword")
        if _is_datatree_arviz():
            table = az.compare(dict(models), var_name=var_name, round_to="none")
        else:
            table = az.compare(dict(models), ic="loo", var_name=var_name)
    if "elpd" in table.columns:
        # ArviZ >= 1: elpd_diff = elpd_model - elpd_best <= 0; + 0.0 turns -0.0 into 0.0
        table = table.assign(
            elpd_loo=table["elpd"],
            p_loo=table["p"],
            elpd_diff=-table["elpd_diff"] + 0.0,
            warning=table["diag_elpd"].fillna("").astype(str) != "",
        )
    table = table.loc[:, list(COMPARE_COLUMNS)].astype(
        {"rank": np.int64, "warning": bool}
        | {c: np.float64 for c in COMPARE_COLUMNS if c not in ("rank", "warning")}
    )
    table.index.name = "model"
    return table


def save_netcdf(data, path: str | os.PathLike, *, overwrite: bool = False) -> pathlib.Path:
    """Write ``data`` to a netCDF-4 file, atomically.

    The file is first written under a temporary name in the same directory and
    then moved to ``path``, so an existing file is either left as it was (if
    writing fails) or replaced whole.

    Parameters
    ----------
    data : arviz.InferenceData or xarray.DataTree
    path : str or path-like
        Destination; its directory must exist.
    overwrite : bool
        Replace an existing file. Without it an existing file raises
        ``FileExistsError`` and is left untouched, also when it appears while
        the new one is being written.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is false.
    FileNotFoundError
        If the directory of ``path`` does not exist.
    """
    _check_container(data)
    path = pathlib.Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"expected the directory {str(path.parent)!r} to exist, it does not; "
            f"create it first (pathlib.Path(...).mkdir(parents=True))"
        )
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"expected a new file, {str(path)!r} already exists; pass overwrite=True to "
            f"replace it, or choose another path"
        )
    write_atomic(path, lambda tmp: data.to_netcdf(tmp, engine=_NETCDF_ENGINE), overwrite=overwrite)
    return path


def load_netcdf(path: str | os.PathLike):
    """Read a file written by :func:`save_netcdf` with the installed ArviZ.

    The data are loaded into memory and the file is closed, so it can be
    overwritten afterwards.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    arviz.InferenceData or xarray.DataTree
        As :func:`to_arviz` returns.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        If the file holds none of ArviZ's groups (``posterior``,
        ``log_likelihood``, ...), e.g. a plain netCDF file of one dataset.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"expected a netCDF file at {str(path)!r}, found none")
    with open(path, "rb") as fh:
        signature = fh.read(8)
    # netCDF-4 is HDF5 (its signature), netCDF-3 starts with "CDF"
    if signature != b"\x89HDF\r\n\x1a\n" and not signature.startswith(b"CDF"):
        raise ValueError(
            f"{str(path)!r} is not a netCDF file (it starts with {signature!r}); expected a file "
            f"written by probmodels.export.save_netcdf or arviz's to_netcdf"
        )
    # decode times at second resolution: the default nanoseconds span only ~292
    # years, and yearly series such as the sunspots (1700-2008) are longer
    decode = {"decode_times": xr.coders.CFDatetimeCoder(time_unit="s")}
    if _is_datatree_arviz():
        with xr.open_datatree(path, engine=_NETCDF_ENGINE, **decode) as tree:  # type: ignore[arg-type]
            data = tree.load()
    else:
        az = _arviz()
        with az.rc_context({"data.load": "eager"}):
            data = az.from_netcdf(
                str(path), engine=_NETCDF_ENGINE, group_kwargs={".*": decode}, regex=True
            )
    if not set(group_names(data)) & set(_ARVIZ_GROUPS):
        raise ValueError(
            f"expected {str(path)!r} to hold ArviZ groups (netCDF groups named e.g. "
            f"{list(_GROUP_ORDER)}), found {group_names(data) or 'none'}; it is not a "
            f"file written by save_netcdf or arviz. Read a plain netCDF file with "
            f"xarray.open_dataset"
        )
    return data

"""Argument checks shared by the models, the inference drivers and the data layer.

Every check validates one argument at the boundary (a constructor, ``fit``, a
data conversion) and either returns the value in a canonical Python type or
raises.  Messages are one string that says what was expected, what was
received and how to fix it:

- a value of the wrong *type* raises :class:`TypeError`;
- a value of the right type outside the accepted *range or set* raises
  :class:`ValueError`.

This module imports numpy only, so that the torch-free parts of the package
(``probmodels.data``, ``probmodels.datasets``) can use it.
"""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "check_bool",
    "check_choice",
    "check_finite",
    "check_float",
    "check_int",
    "check_keys",
    "check_magnitude",
    "check_options",
    "check_seed",
]

#: Largest seed accepted by :func:`check_seed`; ``numpy.random.seed`` (which
#: ``pyro.set_rng_seed`` calls) rejects anything above ``2**32 - 1``.
MAX_SEED = 2**32 - 1

#: Largest magnitude :func:`check_magnitude` accepts: squares and products of values up to
#: 1e150 stay inside float64 (largest ~1.8e308, smallest normal ~2.2e-308).
MAX_MAGNITUDE = 1e150

#: How many offending positions :func:`check_finite` quotes in its message.
_MAX_POSITIONS = 3


def _describe(value: Any) -> str:
    """``repr`` of ``value`` followed by its type name, e.g. ``2.5 (float)``."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _is_integer(value: Any) -> bool:
    """True for Python and numpy integers, False for ``bool`` and ``numpy.bool_``."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value: Any) -> bool:
    """True for Python and numpy real numbers, False for booleans."""
    return isinstance(value, (numbers.Real, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _did_you_mean(value: Any, choices: Sequence[str]) -> str:
    """`` Did you mean 'x'?`` for the closest accepted string, or an empty string."""
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, list(choices), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def check_int(value: Any, name: str, *, minimum: int | None = None) -> int:
    """Return ``value`` as a Python ``int`` after checking it is an integer.

    Parameters
    ----------
    value : Any
        The value to check. Python ``int`` and numpy integer scalars are
        accepted; ``bool`` (although a subclass of ``int``) and floats, even
        integral ones such as ``2.0``, are rejected.
    name : str
        The argument name, used in the message and in the suggested fix.
    minimum : int, optional
        Smallest accepted value (inclusive). ``None`` accepts any integer.

    Returns
    -------
    int
        ``value`` converted to ``int``.

    Raises
    ------
    TypeError
        If ``value`` is not an integer (floats and booleans included).
    ValueError
        If ``value`` is below ``minimum``.

    Examples
    --------
    >>> check_int(2, "order", minimum=1)
    2
    >>> check_int(2.5, "order", minimum=1)
    Traceback (most recent call last):
    ...
    TypeError: order must be an integer >= 1, got 2.5 (float). Pass an int, e.g. order=2.
    """
    expected = "an integer" if minimum is None else f"an integer >= {minimum}"
    if not _is_integer(value):
        example = 1 if minimum is None else minimum
        if _is_real(value) and np.isfinite(value):
            example = int(value) if minimum is None else max(int(value), minimum)
        raise TypeError(
            f"{name} must be {expected}, got {_describe(value)}. "
            f"Pass an int, e.g. {name}={example}."
        )
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be {expected}, got {value}. Pass e.g. {name}={minimum}.")
    return value


def check_float(
    value: Any,
    name: str,
    *,
    positive: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float:
    """Return ``value`` as a finite Python ``float`` after checking its range.

    Parameters
    ----------
    value : Any
        The value to check. Python and numpy integers and floats are accepted;
        ``bool``, strings and complex numbers are rejected. NaN and infinite
        values are always rejected.
    name : str
        The argument name, used in the message.
    positive : bool, default False
        Require ``value > 0`` (strictly).
    minimum, maximum : float, optional
        Inclusive bounds, ``minimum <= value <= maximum``.

    Returns
    -------
    float
        ``value`` converted to ``float``.

    Raises
    ------
    TypeError
        If ``value`` is not a real number.
    ValueError
        If ``value`` is NaN, infinite or outside the requested range.
    """
    conditions = []
    if positive:
        conditions.append("> 0")
    if minimum is not None:
        conditions.append(f">= {minimum}")
    if maximum is not None:
        conditions.append(f"<= {maximum}")
    expected = "a finite number" + (" " + " and ".join(conditions) if conditions else "")

    if not _is_real(value):
        raise TypeError(
            f"{name} must be {expected}, got {_describe(value)}. "
            f"Pass a Python float, e.g. {name}=0.1."
        )
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be {expected}, got {value}. Pass a finite value.")
    if (
        (positive and value <= 0)
        or (minimum is not None and value < minimum)
        or (maximum is not None and value > maximum)
    ):
        raise ValueError(f"{name} must be {expected}, got {value}. Pass a value in that range.")
    return value


def check_bool(value: Any, name: str) -> bool:
    """Return ``value`` as a Python ``bool`` after checking it is one.

    Only ``True``/``False`` (and numpy booleans) are accepted: the string
    ``'no'`` or the number ``0`` passed for a flag is a mistake, not a choice.

    Raises
    ------
    TypeError
        If ``value`` is not a boolean.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"{name} must be True or False, got {_describe(value)}. Pass e.g. {name}=False."
        )
    return bool(value)


def check_choice(value: Any, name: str, choices: Sequence[str]) -> Any:
    """Return ``value`` after checking that it is one of the accepted strings.

    Parameters
    ----------
    value : Any
        The option received.
    name : str
        The option name, used in the message.
    choices : sequence of str
        The accepted values, normally ``typing.get_args`` of the option's
        ``Literal`` type so that the type, the docs and the check share one
        definition.

    Returns
    -------
    str
        ``value`` unchanged (typed ``Any`` so that it can be assigned to the option's
        ``Literal`` type).

    Raises
    ------
    ValueError
        If ``value`` is not one of ``choices`` (a non-string included); the
        message lists the accepted values and the closest match, if any.
    """
    if not isinstance(value, str) or value not in choices:
        accepted = ", ".join(repr(c) for c in choices)
        raise ValueError(
            f"{name} must be one of {accepted}; got {_describe(value)}."
            f"{_did_you_mean(value, choices)}"
        )
    return value


def check_finite(array: Any, name: str, *, labels: Sequence[Any] | None = None) -> None:
    """Raise if ``array`` contains NaN or infinite values.

    Parameters
    ----------
    array : array_like
        Numeric array of any shape. Integer and boolean arrays are always
        finite and pass.
    name : str
        The argument name, used in the message.
    labels : sequence, optional
        One label per position along the first axis (for time series: the
        time index). When given, the message names the label of the first
        offending row as well as its position.

    Raises
    ------
    TypeError
        If ``array`` is not numeric.
    ValueError
        If any value is NaN or infinite. The message gives the number of NaN
        and of infinite values, the first positions (row-major order) and
        how to fix the data (drop or interpolate the missing values).
    """
    array = np.asarray(array)
    if array.dtype.kind in "biu":
        return
    if array.dtype.kind not in "fc":
        raise TypeError(
            f"{name} must be a numeric array, got dtype {array.dtype}. "
            f"Convert it with np.asarray({name}, dtype=float)."
        )
    bad = ~np.isfinite(array)
    if not bad.any():
        return
    num_nan = int(np.isnan(array).sum())
    num_inf = int(bad.sum()) - num_nan
    first = np.argwhere(bad)[:_MAX_POSITIONS]
    if array.ndim == 1:
        positions = ", ".join(str(int(p[0])) for p in first)
    else:
        positions = ", ".join(str(tuple(int(i) for i in p)) for p in first)
    where = f"first at position(s) {positions}"
    if labels is not None and array.ndim >= 1 and len(labels) == array.shape[0]:
        where += f" (first label {labels[int(first[0][0])]!r})"
    raise ValueError(
        f"{name} must contain only finite values, got {num_nan} NaN and {num_inf} "
        f"infinite value(s) out of {array.size}; {where}. Drop them "
        f"(e.g. series.dropna()) or interpolate them (series.interpolate()) first."
    )


def check_magnitude(array: Any, name: str, *, columns: Sequence[Any] | None = None) -> None:
    """Raise if a column of a finite float array is too large or too small for float64 squares.

    A model that squares its data (a Gaussian density, a covariance, a sum of squares)
    overflows to infinity for values beyond about 1e154 and underflows to zero for a
    column whose largest value is below about 1e-154: the first ends in NaN
    probabilities, the second reads as a constant column. Values up to
    :data:`MAX_MAGNITUDE` (1e150) in absolute value, and columns whose largest absolute
    value is at least ``1 / MAX_MAGNITUDE`` (or exactly 0), are accepted.

    Parameters
    ----------
    array : array_like
        Numbers, shape ``(rows,)`` or ``(rows, columns, ...)`` (trailing axes are
        flattened into columns); NaN is skipped.
    name : str
        The argument name, used in the message.
    columns : sequence, optional
        One name per column, quoted in the message.

    Raises
    ------
    ValueError
        Naming the column, its largest absolute value and the rescaling that fixes it.
    """
    array = np.asarray(array)
    if array.dtype.kind not in "fc" or array.size == 0:
        return
    if array.ndim == 0:
        array = array.reshape(1)
    # NaN (a missing value, where a model takes them) is skipped by fmax
    level = np.fmax.reduce(np.abs(array.reshape(array.shape[0], -1)), axis=0)
    for j, v in enumerate(level):
        if v > MAX_MAGNITUDE or 0 < v < 1 / MAX_MAGNITUDE:
            which = "large" if v > MAX_MAGNITUDE else "small"
            label = (
                f" column {columns[j]!r}"
                if columns is not None and j < len(columns)
                else (f" column {j}" if level.size > 1 else "")
            )
            raise ValueError(
                f"{name}{label} has values too {which} for float64 arithmetic (largest absolute "
                f"value {v:.3g}; accepted up to {MAX_MAGNITUDE:.0e}, and a column's largest at "
                f"least {1 / MAX_MAGNITUDE:.0e}): their squares {'overflow' if which == 'large' else 'underflow'}. "
                f"Rescale it, e.g. {name} / np.abs({name}).max(0), and scale the fitted "
                f"locations and spreads back by the same factor."
            )


def check_keys(mapping: Mapping[str, Any] | None, name: str, allowed: Sequence[str]) -> dict:
    """Return ``mapping`` as a new ``dict`` after checking its keys.

    Parameters
    ----------
    mapping : mapping or None
        For instance a ``{site name: prior}`` override. ``None`` means "no
        entries" and gives an empty dict.
    name : str
        The argument name, used in the message.
    allowed : sequence of str
        The accepted keys.

    Returns
    -------
    dict
        A shallow copy of ``mapping`` (the caller may modify it freely).

    Raises
    ------
    TypeError
        If ``mapping`` is neither ``None`` nor a mapping.
    ValueError
        If a key is not in ``allowed``; the message lists the unknown keys,
        the accepted keys and the closest match.
    """
    if mapping is None:
        return {}
    if not isinstance(mapping, Mapping):
        example = f"{{{allowed[0]!r}: ...}}" if allowed else "None"
        raise TypeError(
            f"{name} must be a dict or None, got {_describe(mapping)}. Pass e.g. {name}={example}."
        )
    unknown = [k for k in mapping if not isinstance(k, str) or k not in allowed]
    if unknown:
        accepted = ", ".join(repr(a) for a in allowed) if allowed else "none"
        raise ValueError(
            f"{name} has unknown key(s) {', '.join(repr(k) for k in unknown)}; "
            f"accepted keys are {accepted}.{_did_you_mean(unknown[0], allowed)}"
        )
    return dict(mapping)


def check_seed(seed: Any) -> int | None:
    """Return ``seed`` as ``None`` or a Python ``int`` in ``[0, 2**32 - 1]``.

    Parameters
    ----------
    seed : None or int
        ``None`` (draw a fresh seed later) or a non-negative integer (Python
        or numpy). The upper bound ``2**32 - 1`` is what ``numpy.random.seed``,
        called by ``pyro.set_rng_seed``, accepts.

    Returns
    -------
    int or None

    Raises
    ------
    TypeError
        If ``seed`` is neither ``None`` nor an integer (``bool`` and floats
        included).
    ValueError
        If ``seed`` is negative or above ``2**32 - 1``.
    """
    if seed is None:
        return None
    if not _is_integer(seed):
        raise TypeError(
            f"seed must be None or an integer in [0, 2**32 - 1], got {_describe(seed)}. "
            f"Pass e.g. seed=0, or seed=None for a fresh random seed."
        )
    seed = int(seed)
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(
            f"seed must be None or an integer in [0, 2**32 - 1], got {seed}. "
            f"Pass e.g. seed={abs(seed) if abs(seed) <= MAX_SEED else 0}."
        )
    return seed


def check_options(
    options: Mapping[str, Any], method: str, defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """Merge a method's keyword ``options`` over its ``defaults``, rejecting unknown names.

    Raises
    ------
    TypeError
        For option names ``defaults`` does not have (a misspelt or another
        method's option), listing the accepted ones.
    """
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        hint = _did_you_mean(unknown[0], list(defaults))
        raise TypeError(
            f"unknown option(s) {unknown} for method={method!r}; accepted: "
            f"{sorted(defaults)}.{hint}"
        )
    return {**defaults, **options}

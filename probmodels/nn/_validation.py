"""Argument checks shared by the ``probmodels.nn`` blocks.

Kept inside ``probmodels.nn`` so that the building blocks depend on nothing but
torch; each check raises a ``ValueError`` (or ``TypeError``) whose message says
what was expected, what was received and how to fix it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def check_positive_int(value: Any, name: str, owner: str) -> int:
    """Return ``value`` as an ``int`` after checking that it is a positive integer.

    Parameters
    ----------
    value : Any
        The value to check; ``bool`` is rejected although it subclasses ``int``.
    name : str
        The argument name used in the message.
    owner : str
        The function or class the argument belongs to, used in the message.

    Returns
    -------
    int
        ``value`` unchanged.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"{owner}: {name} must be a positive integer; received {value!r}. Pass an int >= 1."
        )
    return value


def check_nonnegative_int(value: Any, name: str, owner: str) -> int:
    """Return ``value`` after checking that it is an integer >= 0 (see `check_positive_int`)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{owner}: {name} must be an integer >= 0; received {value!r}.")
    return value


def check_option(value: Any, name: str, accepted: Sequence[str], owner: str) -> str:
    """Return ``value`` after checking that it is one of the ``accepted`` strings.

    Parameters
    ----------
    value : Any
        The option received.
    name : str
        The argument name used in the message.
    accepted : sequence of str
        The accepted values, normally ``typing.get_args`` of the option's ``Literal``.
    owner : str
        The function or class the argument belongs to, used in the message.
    """
    if not isinstance(value, str) or value not in accepted:
        raise ValueError(
            f"{owner}: unknown {name} {value!r}; accepted values are "
            f"{', '.join(repr(a) for a in accepted)}."
        )
    return value


def check_channel_sizes(channels: Any, name: str, owner: str) -> tuple[int, ...]:
    """Return ``channels`` as a non-empty tuple of positive ints (one entry per stage)."""
    if isinstance(channels, (str, bytes)) or not isinstance(channels, Sequence):
        raise ValueError(
            f"{owner}: {name} must be a non-empty sequence of positive ints, one per "
            f"stage; received {channels!r}."
        )
    if len(channels) == 0:
        raise ValueError(
            f"{owner}: {name} must name at least one stage; received an empty "
            f"sequence. Pass e.g. {name}=(32, 64)."
        )
    return tuple(check_positive_int(c, f"{name}[{i}]", owner) for i, c in enumerate(channels))


def check_image_shape(shape: Any, name: str, owner: str) -> tuple[int, int, int]:
    """Return ``shape`` as a ``(channel, height, width)`` tuple of positive ints."""
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence) or len(shape) != 3:
        raise ValueError(
            f"{owner}: {name} must be (channel, height, width), three positive ints; "
            f"received {shape!r}. For a batch of 8x8 grey images pass (1, 8, 8)."
        )
    c, h, w = (check_positive_int(s, f"{name}[{i}]", owner) for i, s in enumerate(shape))
    return c, h, w


def check_dropout(p: Any, owner: str) -> float:
    """Return the dropout probability ``p`` after checking ``0 <= p < 1``."""
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
        raise ValueError(
            f"{owner}: dropout must be a probability in [0, 1); received {p!r}. "
            f"Use 0.0 to switch dropout off."
        )
    return float(p)

"""Small data sets for examples and tests: three shipped, two simulated.

Shipped with the package (``probmodels/datasets/data``, provenance and
licences in its ``README.md``) and read with :mod:`importlib.resources`, so
they load from an installed wheel as well as from a checkout:

- :func:`load_sunspots` -- yearly mean sunspot numbers 1700-2008 (time series);
- :func:`load_faithful` -- Old Faithful eruption and waiting times (mixtures);
- :func:`load_digits` -- 1,797 8x8 grey hand-written digits (images).

Simulated, as in scikit-learn but drawn with a :class:`numpy.random.Generator`
(so the same seed gives other numbers than scikit-learn):

- :func:`make_moons` -- two interleaved half circles (2-D, labelled);
- :func:`make_swiss_roll` -- a 2-D spiral.

This package imports numpy and pandas only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd

from probmodels._validation import check_float, check_int, check_seed

__all__ = [
    "DIGIT_LEVELS",
    "Digits",
    "digits_split",
    "load_digits",
    "load_faithful",
    "load_sunspots",
    "make_moons",
    "make_swiss_roll",
]


def _data_file(filename: str):
    """The shipped file ``data/<filename>`` as an importlib Traversable."""
    return resources.files(__name__).joinpath("data").joinpath(filename)


# --------------------------------------------------------------------------- shipped


def load_sunspots() -> pd.Series:
    """Yearly mean sunspot numbers, 1700 to 2008 (309 years).

    Returns
    -------
    pandas.Series
        Named ``"sunspots"``, dtype float64, indexed by an annual
        ``PeriodIndex`` (frequency ``"Y"``, i.e. ``Y-DEC``) named ``"year"``
        with no gaps, so that :func:`probmodels.data.extend_index` continues
        it to 2009, 2010, ...

    Notes
    -----
    Source: NOAA NGDC, as shipped by ``statsmodels.datasets.sunspots``.
    """
    with _data_file("sunspots.csv").open("r", encoding="utf-8") as f:
        frame = pd.read_csv(f, dtype={"year": np.int64, "sunspots": np.float64})
    index = pd.PeriodIndex(frame["year"].astype(str), freq="Y", name="year")
    return pd.Series(frame["sunspots"].to_numpy(), index=index, name="sunspots")


def load_faithful() -> pd.DataFrame:
    """Old Faithful geyser: 272 eruptions and the waiting time before each.

    Returns
    -------
    pandas.DataFrame
        Columns ``eruptions`` (eruption length, minutes) and ``waiting``
        (minutes to the next eruption), both float64, with a ``RangeIndex``.

    Notes
    -----
    Source: R ``datasets::faithful`` (Härdle 1991). Its published means are
    3.487783 (eruptions) and 70.89706 (waiting).
    """
    with _data_file("faithful.csv").open("r", encoding="utf-8") as f:
        return pd.read_csv(f, dtype={"eruptions": np.float64, "waiting": np.float64})


@dataclass(frozen=True)
class Digits:
    """The hand-written digits: images and their labels.

    Unpacks like a pair, ``images, target = load_digits()``.

    Attributes
    ----------
    images : numpy.ndarray
        Shape ``(data, height, width) = (1797, 8, 8)``, dtype uint8, grey
        levels 0 (white) to 16 (black); scale with ``images / 16.0``.
    target : numpy.ndarray
        Shape ``(data,) = (1797,)``, dtype int64, the digit 0-9 shown.
    """

    images: np.ndarray
    target: np.ndarray

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.images, self.target))


def load_digits() -> Digits:
    """1,797 hand-written digits as 8x8 grey images (UCI optical digits).

    Returns
    -------
    Digits
        ``images`` uint8 of shape ``(1797, 8, 8)`` with values 0..16 and
        ``target`` int64 of shape ``(1797,)``, in scikit-learn's
        ``load_digits`` order. A fresh copy on each call.

    Notes
    -----
    Source: UCI Optical Recognition of Handwritten Digits, as shipped by
    scikit-learn (CC BY 4.0).
    """
    with _data_file("digits.npz").open("rb") as f, np.load(f) as npz:
        images = np.array(npz["images"], dtype=np.uint8)
        target = np.array(npz["target"], dtype=np.int64)
    return Digits(images=images, target=target)


DIGIT_LEVELS = 17
"""Grey levels of the 8x8 digits (pixel values 0..16): ``num_levels`` of their image DDPM."""


def digits_split(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The shipped 8x8 digits on their 17 grey levels in [-1, 1], for an image DDPM.

    Parameters
    ----------
    seed : int, default 0
        Seed of the fixed permutation that splits the images.

    Returns
    -------
    tuple of numpy.ndarray
        Training (1,437) and test (360) images, float32 of shape ``(N, 1, 8, 8)``,
        ``x = p / 8 - 1`` for pixel value ``p``.
    """
    images, _ = load_digits()
    x = images[:, None].astype(np.float32) / 8.0 - 1.0
    perm = np.random.default_rng(seed).permutation(len(x))
    return x[perm[:1437]], x[perm[1437:]]


# --------------------------------------------------------------------------- simulated


def make_moons(
    n_samples: int,
    *,
    noise: float = 0.05,
    seed: int | None = None,
    shuffle: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Two interleaving half circles (scikit-learn's ``make_moons`` algorithm).

    With :math:`n_0 = \lfloor n / 2 \rfloor` outer and :math:`n_1 = n - n_0`
    inner points, :math:`t` evenly spaced on :math:`[0, \pi]` (``linspace``,
    both ends included) in each moon, and
    :math:`\varepsilon \sim \mathcal N(0, \sigma^2 I_2)` with
    :math:`\sigma` = ``noise``:

    .. math::

        \text{outer (label 0)}: (\cos t, \sin t) + \varepsilon, \qquad
        \text{inner (label 1)}: (1 - \cos t, \tfrac12 - \sin t) + \varepsilon.

    The outer moon is the upper half of the unit circle about ``(0, 0)``, the
    inner one the lower half of the unit circle about ``(1, 0.5)``.

    Parameters
    ----------
    n_samples : int
        Number of points, ``>= 2``.
    noise : float, default 0.05
        Standard deviation :math:`\sigma \ge 0` of the Gaussian noise.
    seed : int, optional
        Seed of the :func:`numpy.random.default_rng` generator; ``None``
        draws fresh randomness.
    shuffle : bool, default True
        Shuffle the points (as scikit-learn does by default); when False the
        ``n_0`` outer points come first.

    Returns
    -------
    points : numpy.ndarray
        Shape ``(data, 2)``, float64.
    labels : numpy.ndarray
        Shape ``(data,)``, int64: 0 for the outer moon, 1 for the inner one.
    """
    n_samples = check_int(n_samples, "n_samples", minimum=2)
    noise = check_float(noise, "noise", minimum=0.0)
    if not isinstance(shuffle, (bool, np.bool_)):
        raise TypeError(
            f"shuffle must be True or False, got {shuffle!r} ({type(shuffle).__name__})."
        )
    rng = np.random.default_rng(check_seed(seed))

    n_out = n_samples // 2
    n_in = n_samples - n_out
    t_out = np.linspace(0.0, np.pi, n_out)
    t_in = np.linspace(0.0, np.pi, n_in)
    points = np.concatenate(
        [
            np.stack([np.cos(t_out), np.sin(t_out)], axis=1),  # (n_out, 2)
            np.stack([1.0 - np.cos(t_in), 1.0 - np.sin(t_in) - 0.5], axis=1),  # (n_in, 2)
        ]
    )
    labels = np.concatenate([np.zeros(n_out, dtype=np.int64), np.ones(n_in, dtype=np.int64)])
    if shuffle:
        order = rng.permutation(n_samples)
        points, labels = points[order], labels[order]
    if noise > 0:
        points = points + rng.normal(scale=noise, size=points.shape)
    return np.ascontiguousarray(points), labels


def make_swiss_roll(n_samples: int, *, noise: float = 0.0, seed: int | None = None) -> np.ndarray:
    r"""A 2-D swiss roll (the spiral of scikit-learn's ``make_swiss_roll``).

    With :math:`u \sim \mathcal U(0, 1)` and
    :math:`\varepsilon \sim \mathcal N(0, \sigma^2 I_2)`, :math:`\sigma` =
    ``noise``:

    .. math::

        t = \tfrac32 \pi (1 + 2u), \qquad
        (x, y) = (t \cos t, \; t \sin t) + \varepsilon,

    so :math:`t \in [1.5\pi, 4.5\pi)` and each point lies at distance
    :math:`t` from the origin (before noise). scikit-learn's 3-D roll is
    :math:`(t \cos t, h, t \sin t)`; this is its projection without the
    height :math:`h`.

    Parameters
    ----------
    n_samples : int
        Number of points, ``>= 1``.
    noise : float, default 0.0
        Standard deviation :math:`\sigma \ge 0` of the Gaussian noise.
    seed : int, optional
        Seed of the :func:`numpy.random.default_rng` generator; ``None``
        draws fresh randomness. :math:`u` is drawn before the noise, so the
        same seed gives the same :math:`t` whatever ``noise`` is.

    Returns
    -------
    numpy.ndarray
        Shape ``(data, 2)``, float64.
    """
    n_samples = check_int(n_samples, "n_samples", minimum=1)
    noise = check_float(noise, "noise", minimum=0.0)
    rng = np.random.default_rng(check_seed(seed))

    t = 1.5 * np.pi * (1.0 + 2.0 * rng.uniform(size=n_samples))
    points = np.stack([t * np.cos(t), t * np.sin(t)], axis=1)  # (n_samples, 2)
    if noise > 0:
        points = points + rng.normal(scale=noise, size=points.shape)
    return points

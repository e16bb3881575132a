"""The checks that a finished training run went well: a loss that ends far above where it
started, or a validation loss that diverges, is reported with numbers and advice (the NaN
guard of :func:`~probmodels.infer.train.train` alone lets a too large learning rate pass
whenever the loss stays finite)."""

from __future__ import annotations

import numpy as np

__all__ = ["divergence_warnings"]

# the thresholds of the divergence checks (divergence_warnings), as multiples of a magnitude
_EPOCH_RISE = 0.5  # last epochs above the first epoch's mean by half its magnitude
_INITIAL_RISE = 2.0  # last epoch above the first batch's loss by twice its magnitude
_INITIAL_MIN_BATCH = 8  # a smaller first batch is too noisy a measure of the initial loss
_VAL_RISE = 2.0  # last validation loss above the best by twice its magnitude
_VAL_STREAK = 5  # validation checks in a row that rose, at the end of the run
_VAL_STREAK_RISE = 0.25


def divergence_warnings(
    train_loss: np.ndarray, val_loss: np.ndarray, initial: float | None, first_batch: int, lr: float
) -> list[str]:
    """The messages of the checks a finished run fails (empty when it went well).

    - **training loss rose**, either
      (a) each of the last ``min(3, epochs - 1)`` epochs' mean loss is above the
      first epoch's by more than ``_EPOCH_RISE`` times its magnitude (a positive
      loss: above 1.5 times; several epochs in a row keep one noisy epoch of a
      stochastic loss quiet), or
      (b) the last epoch's mean is above ``initial``, the loss of the first batch
      (of ``first_batch`` examples) at the initial weights, by more than
      ``_INITIAL_RISE`` times its magnitude (a positive loss: above 3 times).
      (b) catches a step size that blows the loss up within the first epoch,
      which (a) misses; it needs a first batch of ``_INITIAL_MIN_BATCH``
      examples or more, as one smaller batch is too noisy a reading.
    - **validation loss diverged**: the last one is above the best by more than
      ``_VAL_RISE`` times the best's magnitude (a positive loss: over 3 times its best).
    - **validation loss grew steadily**: it rose at each of the last ``_VAL_STREAK``
      checks after the best, by more than ``_VAL_STREAK_RISE`` times the best's
      magnitude in all (overfitting goes up and down; too large a step rises every epoch).
    """
    advice = (
        f"Lower the learning rate (got lr={lr:g}; try lr={lr / 10:g}) or pass grad_clip=1.0, "
        f"and look at the losses (fit.losses, TrainRun.train_loss / val_loss)."
    )
    out = []
    e = len(train_loss)
    first, last = (float(train_loss[0]), float(train_loss[-1])) if e else (0.0, 0.0)
    tail = train_loss[-min(3, e - 1) :] if e > 1 else train_loss[:0]
    if len(tail) and bool(np.all(tail - first > _EPOCH_RISE * abs(first))) and first != 0:
        out.append(
            f"training loss rose: the mean loss per example of the last epoch is {last:.6g} "
            f"against {first:.6g} in the first (epochs {e - len(tail)}-{e - 1} all above "
            f"{first + _EPOCH_RISE * abs(first):.6g}); the optimiser made the fit worse. {advice}"
        )
    elif (
        e
        and initial is not None
        and first_batch >= _INITIAL_MIN_BATCH
        and initial != 0
        and last - initial > _INITIAL_RISE * abs(initial)
    ):
        out.append(
            f"training loss rose: the mean loss per example of the last epoch is {last:.6g} "
            f"against {initial:.6g} on the first batch at the initial weights (over "
            f"{1 + _INITIAL_RISE:g} times its magnitude; {first:.6g} in the first epoch); the "
            f"optimiser made the fit worse than no training. {advice}"
        )
    v = len(val_loss)
    if v >= 2:
        best_epoch = int(np.argmin(val_loss))
        best, last = float(val_loss[best_epoch]), float(val_loss[-1])
        rises = np.diff(val_loss[best_epoch:])
        if last - best > _VAL_RISE * abs(best) and abs(best) > 0:
            out.append(
                f"validation loss diverged: {last:.6g} after the last epoch against its best "
                f"{best:.6g} after epoch {best_epoch} (over {1 + _VAL_RISE:g} times the best's "
                f"magnitude); the weights of epoch {best_epoch} were kept. {advice}"
            )
        elif (
            len(rises) >= _VAL_STREAK
            and bool(np.all(rises[-_VAL_STREAK:] > 0))
            and last - best > _VAL_STREAK_RISE * abs(best)
        ):
            out.append(
                f"validation loss grew steadily: it rose at each of the last {_VAL_STREAK} "
                f"epochs, to {last:.6g} against its best {best:.6g} after epoch {best_epoch}; "
                f"the weights of epoch {best_epoch} were kept. {advice}"
            )
    return out

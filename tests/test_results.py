"""Tests for probmodels.results: index (de)serialisation, the file format guards and
the atomic writer (probmodels._files) that fit.save, checkpoints and netCDF use."""

import errno
import json
import os
import stat
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.tseries.offsets import CustomBusinessDay

import probmodels as pm
from probmodels import _files
from probmodels._files import write_atomic
from probmodels.results import FitResult, index_from_json, index_to_json

INDEXES = [
    pd.RangeIndex(3, 30, 3, name="t"),
    pd.period_range("1700", periods=5, freq="Y", name="year"),
    pd.period_range("2020-01", periods=5, freq="M"),
    pd.date_range("2020-01-01", periods=4, freq="MS", name="date"),
    pd.date_range("2020-01-01 06:00", periods=3, freq="h", tz="UTC"),
    pd.DatetimeIndex(["2020-01-01", "2020-01-05", "2020-02-01"]),
    pd.Index([1, 4, 9]),
    pd.Index([0.5, 1.5]),
    pd.Index(["a", "b"]),
    # across the spring-forward change: offsets -05:00 then -04:00
    pd.date_range("2021-03-13", periods=3, freq="D", tz="America/New_York", name="day"),
    # across the fall-back change: the wall time 01:00 occurs twice
    pd.date_range("2021-11-07 04:00", periods=4, freq="h", tz="UTC").tz_convert("America/New_York"),
    pd.DatetimeIndex(["2020-01-01", "2020-01-02"]).as_unit("s"),
    pd.DatetimeIndex(["2020-01-01 00:00:00.000000001", "NaT"]),
    pd.timedelta_range("1h", periods=3, freq="h", name="lag"),
    pd.TimedeltaIndex(["1D", None, "3D"]).as_unit("ns"),
    pd.MultiIndex.from_product([["a", "b"], pd.date_range("2020", periods=2)], names=["g", "t"]),
    pd.Index([1, 2, 3], name=("a", "b")),
    pd.MultiIndex.from_tuples([(1, "x"), (2, "y")], names=[("level", 0), None]),
    pd.Index([True, False]),
]


def _id(index):
    tz = getattr(index, "tz", None)
    return f"{type(index).__name__}-{index.dtype}" + (f"-{tz}" if tz is not None else "")


def _round_trip(index):
    return index_from_json(json.loads(json.dumps(index_to_json(index))))


@pytest.mark.parametrize("index", INDEXES, ids=_id)
def test_index_round_trip_is_exact(index):
    back = _round_trip(index)
    pd.testing.assert_index_equal(back, index, exact=True)
    assert back.names == index.names
    assert [type(n) for n in back.names] == [type(n) for n in index.names]
    if isinstance(index, (pd.DatetimeIndex, pd.PeriodIndex, pd.TimedeltaIndex)):
        assert back.freq == index.freq
    if isinstance(index, pd.DatetimeIndex):
        assert str(back.tz) == str(index.tz)


def test_dst_index_is_stored_as_utc_instants_with_the_zone_name():
    index = INDEXES[9]
    obj = index_to_json(index)
    assert obj["tz"] == "America/New_York"
    assert obj["values"] == ["2021-03-13T05:00:00+00:00", "2021-03-14T05:00:00+00:00",
                             "2021-03-15T04:00:00+00:00"]


def test_dst_index_written_before_the_fix_loads():
    """Older files hold wall times with their offsets, which mix across a DST change."""
    old = {"kind": "datetime", "freq": "D", "tz": "America/New_York", "name": None,
           "values": ["2021-03-13T00:00:00-05:00", "2021-03-14T00:00:00-05:00",
                      "2021-03-15T00:00:00-04:00"]}
    back = index_from_json(old)
    expected = pd.date_range("2021-03-13", periods=3, freq="D", tz="America/New_York")
    assert back.equals(expected) and back.freq == expected.freq
    assert str(back.tz) == "America/New_York"


def test_unwritable_freq_is_dropped_with_a_warning_and_the_labels_kept():
    freq = CustomBusinessDay(holidays=["2021-01-06"])
    index = pd.date_range("2021-01-04", periods=5, freq=freq, name="day")
    with pytest.warns(UserWarning, match="CustomBusinessDay.*saved without a frequency"):
        obj = index_to_json(index)
    back = index_from_json(json.loads(json.dumps(obj)))
    assert back.equals(index) and back.name == "day" and back.freq is None
    # the holiday is skipped in the labels themselves
    assert pd.Timestamp("2021-01-06") not in back


@pytest.mark.parametrize("index, match", [
    (pd.Index([1, "a", 2.5], dtype=object), r"cannot save the data's Index \(dtype object"),
    (pd.Index([1, 2], name=pd.Timestamp("2020")), r"names \[Timestamp"),
], ids=["mixed-object", "timestamp-name"])
def test_index_that_cannot_round_trip_raises_at_save_time(index, match, tmp_path):
    with pytest.raises(ValueError, match=match + r".*reset_index\(drop=True\)"):
        index_to_json(index)
    fit = _IndexedFit(draws={"a": np.zeros((1, 3))}, method="svi", seed=1, index=index)
    with pytest.raises(ValueError, match="cannot save the data's Index"):
        fit.save(tmp_path / "fit")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------ fits to save


@dataclass
class _IndexedFit(FitResult):
    """The smallest fit with model state: an index and a number."""

    index: pd.Index | None = None
    x: float = 0.0

    model_name = "_IndexedFit_for_tests"

    def _state(self):
        return {"index": index_to_json(self.index), "x": self.x}, {"w": np.arange(3.0)}

    @classmethod
    def _from_state(cls, common, meta, arrays):
        return cls(**common, index=index_from_json(meta["index"]), x=meta["x"])


def _tiny_fit(index=None, seed=1):
    index = pd.RangeIndex(4) if index is None else index
    return _IndexedFit(draws={"a": np.arange(6.0).reshape(1, 6)}, method="svi", seed=seed,
                       losses=np.array([3.0, 2.0]), index=index, x=0.5)


def _ar_fit(index):
    from probmodels.models.ar import ARFit

    ar = pm.BayesianAR(order=1)
    y = pd.Series(np.linspace(0.0, 1.0, len(index)), index=index)
    draws = {"mu": np.zeros((1, 5, 1)), "phi": np.zeros((1, 5, 1, 1)), "sigma": np.ones((1, 5, 1))}
    return ARFit(draws=draws, method="svi", seed=0, ar=ar, data=pm.data.as_time_series(y))


def _gmm_fit(index):
    from probmodels.models.gmm import GMMFit

    draws = {"pi": np.full((1, 5, 2), 0.5), "mu": np.zeros((1, 5, 2)), "sigma": np.ones((1, 5, 2))}
    return GMMFit(draws=draws, method="svi", seed=0, gmm=pm.GaussianMixture(2),
                  data=np.arange(float(len(index)))[:, None], index=index, feature_names=("x",))


def test_fits_with_dst_timedelta_and_multi_indexes_load_back(tmp_path):
    """Before the fix pm.load failed on the first ("Mixed timezones") and turned the
    others into strings."""
    dst = pd.date_range("2021-03-13", periods=4, freq="D", tz="America/New_York", name="day")
    ar = pm.load(_ar_fit(dst).save(tmp_path / "ar"))
    assert ar.data.index.equals(dst) and str(ar.data.index.tz) == "America/New_York"
    assert ar.data.index.freq == dst.freq and ar.data.index.name == "day"

    lags = pd.timedelta_range("1h", periods=4, freq="h", name="lag")
    back = pm.load(_ar_fit(lags).save(tmp_path / "ar_td"))
    pd.testing.assert_index_equal(back.data.index, lags, exact=True)
    assert back.data.index.freq == lags.freq

    multi = pd.MultiIndex.from_product([["a", "b"], [0, 1]], names=[("site", "id"), "t"])
    gmm = pm.load(_gmm_fit(multi).save(tmp_path / "gmm"))
    pd.testing.assert_index_equal(gmm.index, multi, exact=True)
    assert gmm.index.names == [("site", "id"), "t"]


# ------------------------------------------------------------ load errors


def test_subclass_load_of_another_models_file_raises_type_error(tmp_path):
    from probmodels.models.ar import ARFit
    from probmodels.models.gmm import GMMFit

    path = _gmm_fit(pd.RangeIndex(4)).save(tmp_path / "gmm")
    with pytest.raises(TypeError, match=r"gmm\.npz holds a fit of class GMMFit \(model "
                                        r"GaussianMixture\), not ARFit; load it with "
                                        r"probmodels\.load\(path\)"):
        ARFit.load(path)
    assert type(GMMFit.load(path)) is GMMFit
    assert type(FitResult.load(path)) is GMMFit
    assert type(pm.load(path)) is GMMFit


def _header(path):
    with np.load(path) as npz:
        return json.loads(str(npz["__meta__"])), {k: npz[k] for k in npz.files if k != "__meta__"}


def _rewrite(path, out, *, header=None, drop=()):
    old, arrays = _header(path)
    arrays = {k: v for k, v in arrays.items() if k not in drop}
    np.savez(out, __meta__=np.array(json.dumps(old if header is None else header(old))), **arrays)


def _write_npy(out):
    with open(out, "wb") as fh:
        np.save(fh, np.arange(3))


def _without(d, *keys):
    return {k: v for k, v in d.items() if k not in keys}


BAD_FILES = {
    "empty": (lambda fit, out: out.write_bytes(b""), "is not a probmodels fit file"),
    "text": (lambda fit, out: out.write_text("hello"), "is not a probmodels fit file"),
    "npy": (lambda fit, out: _write_npy(out), r"single NumPy array \(\.npy\)"),
    "foreign-zip": (lambda fit, out: zipfile.ZipFile(out, "w").close(), "no probmodels metadata"),
    "foreign-npz": (lambda fit, out: np.savez(out, a=np.arange(3)), "no probmodels metadata"),
    "truncated": (lambda fit, out: out.write_bytes(fit.read_bytes()[: fit.stat().st_size // 2]),
                  "is not a probmodels fit file"),
    "bad-json": (lambda fit, out: np.savez(out, __meta__=np.array("{not json")),
                 "unreadable probmodels metadata"),
    "json-list": (lambda fit, out: np.savez(out, __meta__=np.array("[1, 2]")),
                  "metadata of type list, expected a JSON object"),
    "meta-not-text": (lambda fit, out: np.savez(out, __meta__=np.arange(3)),
                      "no probmodels metadata"),
    "missing-keys": (lambda fit, out: _rewrite(
        fit, out, header=lambda h: _without(h, "draw_names")), r"draw_names \(missing\)"),
    "wrong-type": (lambda fit, out: _rewrite(fit, out, header=lambda h: {**h, "options": [1]}),
                   r"options \(expected a JSON dict, found list\)"),
    "names-not-text": (lambda fit, out: _rewrite(
        fit, out, header=lambda h: {**h, "draw_names": [[1]]}), "non-string entries in draw_names"),
    "missing-arrays": (lambda fit, out: _rewrite(fit, out, drop=("draws/a",)),
                       r"lacks the arrays \['draws/a'\]"),
    "broken-state": (lambda fit, out: _rewrite(
        fit, out, header=lambda h: {**h, "model_state": _without(h["model_state"], "x")}),
        r"incomplete or corrupt _IndexedFit_for_tests state \(KeyError"),
    "unknown-model": (lambda fit, out: _rewrite(
        fit, out, header=lambda h: {**h, "model": "Nope"}), "unknown model 'Nope'"),
    "format-version": (lambda fit, out: _rewrite(
        fit, out, header=lambda h: {**h, "format_version": 99}), "format version 99"),
}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_load_of_a_file_that_is_not_a_fit_raises_value_error(kind, tmp_path):
    make, match = BAD_FILES[kind]
    good = _tiny_fit().save(tmp_path / "good")
    out = tmp_path / "bad.npz"
    make(good, out)
    with pytest.raises(ValueError, match=match) as exc:
        pm.load(out)
    message = str(exc.value)
    assert str(out) in message
    assert "written by fit.save()" in message or "version that saved it" in message \
        or "probmodels that saved it" in message


def test_load_of_a_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no fit file at .*absent \(nor absent\.npz"):
        pm.load(tmp_path / "absent")
    with pytest.raises(ValueError, match="is a folder"):
        pm.load(tmp_path)


def test_round_trip_of_the_tiny_fit_and_suffix_lookup(tmp_path):
    fit = _tiny_fit(pd.Index([1, 2, 3, 4], name=("a", "b")))
    path = fit.save(tmp_path / "fit")
    back = pm.load(tmp_path / "fit")  # the .npz suffix is found
    assert path == tmp_path / "fit.npz" and type(back) is _IndexedFit
    np.testing.assert_array_equal(back.draws["a"], fit.draws["a"])
    np.testing.assert_array_equal(back.losses, fit.losses)
    assert back.index.equals(fit.index) and back.index.name == ("a", "b") and back.x == 0.5


# ------------------------------------------------------------ atomic writes


def _write_text(text):
    def write(tmp):
        Path(tmp).write_text(text)
    return write


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o604])
def test_replacing_a_file_keeps_its_permission_bits(mode, tmp_path):
    path = tmp_path / "fit.npz"
    _tiny_fit().save(path)
    os.chmod(path, mode)
    _tiny_fit(seed=2).save(path, overwrite=True)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert pm.load(path).seed == 2


def test_new_file_gets_the_umask_default_without_touching_the_umask(tmp_path, monkeypatch):
    umask = os.umask
    old = umask(0o027)
    try:
        if Path("/proc/self/status").exists():
            # with procfs the umask is read, never set (other threads may create files)
            def no_umask(mask):
                raise AssertionError("write_atomic changed the process umask")
            monkeypatch.setattr(os, "umask", no_umask)
        path = _tiny_fit().save(tmp_path / "fit")
    finally:
        umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_umask_fallback_without_procfs_restores_the_umask(monkeypatch):
    real_open = open

    def no_proc(file, *args, **kwargs):
        if str(file) == "/proc/self/status":
            raise FileNotFoundError(file)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", no_proc)
    old = os.umask(0o037)
    try:
        assert _files._umask() == 0o037
        assert os.umask(0o037) == 0o037  # left as it was
    finally:
        os.umask(old)


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links need privileges on Windows")
def test_writing_through_a_symlink_replaces_the_target_and_keeps_the_link(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "links").mkdir()
    target = tmp_path / "real" / "fit.npz"
    _tiny_fit().save(target)
    os.chmod(target, 0o600)
    link = tmp_path / "links" / "fit.npz"
    link.symlink_to(Path("..") / "real" / "fit.npz")

    assert _tiny_fit(seed=7).save(link, overwrite=True) == link
    assert link.is_symlink() and os.readlink(link) == str(Path("..") / "real" / "fit.npz")
    assert pm.load(target).seed == 7
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["fit.npz"]
    assert sorted(p.name for p in (tmp_path / "links").iterdir()) == ["fit.npz"]


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc to name an fd")
def test_the_temporary_file_is_fsynced_before_it_is_moved(tmp_path, monkeypatch):
    events = []
    fsync, replace = os.fsync, os.replace

    def spy_fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return fsync(fd)

    def spy_replace(src, dst):
        events.append(("replace", os.fspath(src)))
        return replace(src, dst)

    monkeypatch.setattr(os, "fsync", spy_fsync)
    monkeypatch.setattr(os, "replace", spy_replace)
    write_atomic(tmp_path / "out.txt", _write_text("content"))
    monkeypatch.undo()
    tmp = events[[e[0] for e in events].index("replace")][1]
    assert ("fsync", tmp) in events[: events.index(("replace", tmp))]
    assert Path(tmp).name.startswith(".out.txt.")
    assert (tmp_path / "out.txt").read_text() == "content"


def _racing_write(path, text):
    """A write during which someone else creates ``path``."""
    def write(tmp):
        path.write_text("someone else's file")
        Path(tmp).write_text(text)
    return write


@pytest.mark.parametrize("hard_links", [True, False], ids=["link", "no-hard-links"])
def test_overwrite_false_never_replaces_a_file_created_meanwhile(hard_links, tmp_path, monkeypatch):
    if not hard_links:
        def no_link(src, dst):
            raise PermissionError(errno.EPERM, "Operation not permitted", src)
        monkeypatch.setattr(os, "link", no_link)
    path = tmp_path / "out.txt"
    assert write_atomic(path, _write_text("mine"), overwrite=False) == path
    assert path.read_text() == "mine"
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~_files._umask()

    other = tmp_path / "other.txt"
    with pytest.raises(FileExistsError, match="other.txt already exists .*overwrite=True"):
        write_atomic(other, _racing_write(other, "mine"), overwrite=False)
    assert other.read_text() == "someone else's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.txt", "out.txt"]


def test_fit_save_refuses_a_file_created_while_saving(tmp_path, monkeypatch):
    path = tmp_path / "fit.npz"
    savez = np.savez_compressed

    def racing_savez(fh, **arrays):
        path.write_bytes(b"someone else's file")
        savez(fh, **arrays)

    monkeypatch.setattr(np, "savez_compressed", racing_savez)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        _tiny_fit().save(path)
    assert path.read_bytes() == b"someone else's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.npz"]


def test_default_write_atomic_replaces_as_training_checkpoints_need(tmp_path):
    path = tmp_path / "ckpt.pt"
    path.write_text("old")
    write_atomic(path, _write_text("new"))
    assert path.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]

"""Loading a hostile or damaged fit file: only the expected members are decompressed,
each checked against its declared size and the saved shapes; metadata bounded in size
and depth; tampered metadata refused; never a change of global state. Each case is a
ValueError naming the path."""

import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyro
import pytest

import probmodels as pm


def _ar_file(tmp_path, order=1):
    y = pd.Series(np.sin(np.arange(60) / 3.0) + np.random.default_rng(0).normal(0, 0.1, 60))
    return pm.BayesianAR(order).fit(y, seed=0, num_samples=50, progress=False).save(tmp_path / "ar")


def _members(path):
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _write(path, members):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _npy(array):
    import io

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def _header(members):
    import io

    return json.loads(str(np.load(io.BytesIO(members["__meta__.npy"]))))


#: the most a refused load may add to a process's peak memory, in MB (issue 13)
LOAD_PEAK_MB = 300


def _load_peak_mb(path, match):
    """Load ``path`` in a fresh child process that has already imported torch, Pyro and every
    model (320 MB of a process's own, which no load can avoid): the load must raise a
    ValueError matching ``match``; returns what the load added to the peak RSS, in MB."""
    code = textwrap.dedent(f"""
        import re, resource, sys
        import probmodels as pm
        import probmodels.models.ar, probmodels.models.gmm, probmodels.models.vae
        import probmodels.models.ddpm, probmodels.report
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            pm.load({str(path)!r})
        except ValueError as exc:
            assert re.search({match!r}, str(exc)), str(exc)
        else:
            sys.exit("the load did not raise")
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-1500:]
    return float(done.stdout.strip().splitlines()[-1])


def test_a_zip_bomb_member_is_refused_unread(tmp_path):
    members = _members(_ar_file(tmp_path))
    # 1.5 GB of zeros that compress to ~1.5 MB, under a name no fit has
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        with zf.open("bomb.npy", "w", force_zip64=True) as fh:
            chunk = bytes(2**24)
            for _ in range(96):
                fh.write(chunk)
    assert path.stat().st_size < 5 * 2**20
    peak = _load_peak_mb(path, r"bomb\.npz holds members that no BayesianAR fit file has: 'bomb\.npy'")
    assert peak < LOAD_PEAK_MB, peak  # MB; the member inflates to 1.5 GB


def test_a_member_whose_declared_size_disagrees_with_its_shape_is_refused(tmp_path):
    members = _members(_ar_file(tmp_path))
    raw = members["draws/phi.npy"]
    # the .npy header says one shape, the data are longer (or shorter)
    members["draws/phi.npy"] = raw + bytes(800)
    with pytest.raises(ValueError, match=r"bad\.npz member draws/phi\.npy declares .* bytes .* need"):
        pm.load(_write(tmp_path / "bad.npz", members))


def test_a_member_of_another_shape_than_the_metadata_says_is_refused(tmp_path):
    members = _members(_ar_file(tmp_path))
    members["draws/phi.npy"] = _npy(np.zeros((1, 50, 1, 2)))    # order 2 draws in an order-1 fit
    with pytest.raises(ValueError, match=r"array 'draws/phi' has shape \(1, 50, 1, 2\), its metadata says \(1, 50, 1, 1\)"):
        pm.load(_write(tmp_path / "bad.npz", members))


def test_tampered_order_is_refused(tmp_path):
    members = _members(_ar_file(tmp_path))
    header = _header(members)
    header["model_state"]["order"] = 3
    members["__meta__.npy"] = _npy(np.array(json.dumps(header)))
    with pytest.raises(ValueError, match=r"order 3, the file holds phi draws of 1 lag"):
        pm.load(_write(tmp_path / "bad.npz", members))


def test_deeply_nested_metadata_is_a_value_error(tmp_path):
    members = _members(_ar_file(tmp_path))
    header = _header(members)
    members["__meta__.npy"] = _npy(np.array("[" * 200_000 + "]" * 200_000))
    with pytest.raises(ValueError, match="nested too deeply|nested more than"):
        pm.load(_write(tmp_path / "deep.npz", members))
    nested = 1
    for _ in range(70):
        nested = [nested]
    header["model_state"]["extra"] = nested
    members["__meta__.npy"] = _npy(np.array(json.dumps(header)))
    with pytest.raises(ValueError, match="nested more than 64"):
        pm.load(_write(tmp_path / "deep2.npz", members))


def test_object_arrays_are_refused_without_unpickling(tmp_path):
    members = _members(_ar_file(tmp_path))
    import io

    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    members["draws/mu.npy"] = buf.getvalue()
    with pytest.raises(ValueError, match="holds Python objects"):
        pm.load(_write(tmp_path / "obj.npz", members))


def test_a_prior_naming_a_function_does_not_change_pyro_and_is_refused(tmp_path):
    members = _members(_ar_file(tmp_path))
    header = _header(members)
    header["model_state"]["user_priors"] = {"mu": {"type": "enable_validation", "params": {"is_validate": False}}}
    members["__meta__.npy"] = _npy(np.array(json.dumps(header)))
    before = pyro.distributions.is_validation_enabled()
    with pytest.raises(ValueError, match="not a distribution class"):
        pm.load(_write(tmp_path / "evil.npz", members))
    assert pyro.distributions.is_validation_enabled() == before


@pytest.mark.parametrize("model", ["vae", "ddpm"])
def test_a_network_config_that_disagrees_with_the_saved_weights_is_refused_before_allocating(model, tmp_path):
    if model == "vae":
        x = (np.random.default_rng(0).random((40, 1, 4, 4)) > 0.5).astype("float32")
        fit = pm.VAE((1, 4, 4), latent_dim=2, hidden=(8,)).fit(x, steps=2, batch_size=20, validation=None,
                                                              seed=0, progress=False)
        tamper = {"hidden": [200000, 200000]}
    else:
        x = np.random.default_rng(0).normal(size=(40, 2))
        fit = pm.DDPM((2,), timesteps=5, hidden=8, depth=2).fit(x, steps=2, batch_size=20, seed=0, progress=False)
        tamper = {"hidden": 200000}
    members = _members(fit.save(tmp_path / model))
    header = _header(members)
    header["model_state"]["config"].update(tamper)
    members["__meta__.npy"] = _npy(np.array(json.dumps(header)))
    # hidden=200000 asks for 160 GB (VAE) or 320 MB a layer (DDPM) once allocated
    peak = _load_peak_mb(_write(tmp_path / "bad.npz", members), "parameters .* saved weights hold")
    assert peak < LOAD_PEAK_MB, peak


def test_ddpm_timesteps_far_beyond_any_chain_are_refused_up_front(tmp_path):
    with pytest.raises(ValueError, match="timesteps"):
        pm.DDPM((2,), timesteps=300_000_000)


def test_a_save_removes_the_temporary_files_of_killed_saves_to_the_same_target(tmp_path):
    import os

    from probmodels._files import write_atomic

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f".fit.npz.{dead}.abc123.tmp"        # a save killed midway
    stale.write_bytes(b"half a file")
    running = tmp_path / f".fit.npz.{os.getppid()}.def456.tmp"  # a writer still alive
    running.write_bytes(b"in progress")
    other = tmp_path / f".other.npz.{dead}.ghi789.tmp"       # another target's
    other.write_bytes(b"x")
    write_atomic(tmp_path / "fit.npz", lambda tmp: Path(tmp).write_bytes(b"done"))
    assert (tmp_path / "fit.npz").read_bytes() == b"done"
    assert not stale.exists() and running.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [".fit.npz." + os.getppid().__str__() + ".def456.tmp", ".other.npz." + dead + ".ghi789.tmp", "fit.npz"])


# ------------------------------------------------------- exports too large to build


def test_an_export_too_large_is_refused_up_front_with_the_num_draws_that_fits(monkeypatch):
    from probmodels import results

    y = pd.Series(np.sin(np.arange(300) / 5.0) + np.random.default_rng(1).normal(0, 0.2, 300))
    fit = pm.BayesianAR(2).fit(y, seed=0, progress=False)               # 4,000 draws
    calls = []
    monkeypatch.setattr(type(fit), "log_likelihood", lambda self, **k: calls.append(1))
    # 4,000 draws x 2 x 298 steps x 8 bytes = 19 MB; a limit of 4 MB stands for 8 GB
    monkeypatch.setattr(results, "MAX_EXPORT_BYTES", 4 * 2**20)
    with pytest.raises(ValueError, match=r"to_arviz would build 0\.0 GB .* pass num_draws=879 "):
        fit.to_arviz()
    assert calls == []
    monkeypatch.undo()
    monkeypatch.setattr(results, "MAX_EXPORT_BYTES", 4 * 2**20)
    idata = fit.to_arviz(num_draws=879)
    assert idata["posterior"].sizes["draw"] == 879 and idata["log_likelihood"]["y"].shape == (1, 879, 298)
    # evenly spaced draws of the chain: the first and the last included
    np.testing.assert_array_equal(np.asarray(idata["posterior"]["mu"])[0, [0, -1]],
                                  fit.draws["mu"][0, [0, -1], 0])


def test_gmm_export_thins_its_draws():
    x = np.concatenate([np.random.default_rng(0).normal(-2, 1, 100), np.random.default_rng(1).normal(2, 1, 100)])
    fit = pm.GaussianMixture(2).fit(x, seed=0, progress=False, num_samples=200)
    idata = fit.to_arviz(num_draws=50)
    assert idata["posterior"].sizes["draw"] == 50 and idata["log_likelihood"]["x"].shape == (1, 50, 200)

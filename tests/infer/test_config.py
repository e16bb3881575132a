"""Tests for probmodels.infer.config: every option checked by type and range, unknown names named."""

import pytest

from probmodels.infer.config import NUTSConfig, SVIConfig, TrainConfig, configure


@pytest.mark.parametrize("kwargs, error, match", [
    ({"target_accept_prob": 1.5}, ValueError, r"target_accept_prob must be a finite number > 0 and <= 1.0|in \(0, 1\)"),
    ({"target_accept_prob": 1.0}, ValueError, r"in \(0, 1\)"),
    ({"max_tree_depth": 0}, ValueError, "max_tree_depth must be an integer >= 1"),
    ({"max_tree_depth": 25}, ValueError, "at most 20"),
    ({"jit_compile": "no"}, TypeError, "jit_compile must be True or False, got 'no'"),
    ({"num_chains": 0}, ValueError, "num_chains"),
    ({"warmup_steps": -1}, ValueError, "warmup_steps"),
    ({"chain_method": "threads"}, ValueError, "'parallel', 'sequential'"),
    ({"num_samples": 10**8, "num_chains": 2}, ValueError, "at most 100,000,000"),
])
def test_nuts_options_are_checked(kwargs, error, match):
    with pytest.raises(error, match=match):
        NUTSConfig(**kwargs)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"lr": 0.0}, ValueError, "lr must be"), ({"lr": "0.1"}, TypeError, "lr must be"),
    ({"schedule": "linear"}, ValueError, "'constant', 'cosine', 'exponential', 'onecycle'"),
    ({"num_particles": 0}, ValueError, "num_particles"), ({"num_samples": 5}, ValueError, "num_samples"),
    ({"steps": 1.5}, TypeError, "steps must be an integer"), ({"lr_decay": 2.0}, ValueError, "lr_decay"),
])
def test_svi_options_are_checked(kwargs, error, match):
    with pytest.raises(error, match=match):
        SVIConfig(**kwargs)


def test_train_options_are_checked():
    with pytest.raises(ValueError, match="patience=3 needs a validation set"):
        TrainConfig(patience=3)
    with pytest.raises(TypeError, match="progress must be True or False"):
        TrainConfig(progress=1)
    assert "progress" not in TrainConfig().resume_key() and "lr" in TrainConfig().resume_key()


def test_configure_lays_options_over_defaults_and_names_unknown_ones():
    config = configure(NUTSConfig(), {"num_samples": 10}, "nuts")
    assert config.num_samples == 10 and config.warmup_steps == 1000
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['num_sample'\] for method='nuts'.*Did you mean 'num_samples'"):
        configure(NUTSConfig(), {"num_sample": 10}, "nuts")


def test_old_option_names_point_to_the_new_ones():
    from probmodels.infer.config import TrainConfig, configure

    with pytest.raises(TypeError, match="'epochs' is now 'steps'"):
        configure(TrainConfig(), {"epochs": 3}, "svi")
    with pytest.raises(TypeError, match="num_threads= as its own argument"):
        configure(TrainConfig(), {"cpu_threads": 2}, "svi")
    with pytest.raises(ValueError, match="noise_schedule='linear'"):
        TrainConfig(schedule="linear")

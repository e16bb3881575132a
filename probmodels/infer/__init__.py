"""THE fit layer: configurations, run-time policies, SVI, NUTS and the fit template.

- :mod:`~probmodels.infer.config`: frozen, ``Literal``-typed options of every method;
- :mod:`~probmodels.infer.runtime`: the lock, seeds, random states, parameter store,
  threads, progress and devices every public call shares;
- :mod:`~probmodels.infer.svi`: the SVI loop and importance draws;
- :mod:`~probmodels.infer.nuts`: NUTS with chains in parallel processes;
- :mod:`~probmodels.infer.pipeline`: the fit template the models plug their hooks into.
"""

from probmodels.diagnostics import psis_khat
from probmodels.infer.config import (
    CHAIN_METHODS,
    SCHEDULES,
    ChainMethod,
    NUTSConfig,
    Schedule,
    SVIConfig,
    TrainConfig,
    configure,
)
from probmodels.infer.nuts import ModelTarget, NUTSRun, NUTSTarget, run_nuts
from probmodels.infer.runtime import (
    chain_seeds,
    limit_threads,
    pyro_section,
    resolve_device,
    resolve_progress,
    resolve_seed,
    seed_stream,
)
from probmodels.infer.svi import (
    NonFiniteLossError,
    SVIRun,
    first_nonfinite_site,
    importance_draws,
    run_svi,
)

__all__ = [
    # configurations
    "CHAIN_METHODS",
    "ChainMethod",
    "NUTSConfig",
    "SCHEDULES",
    "SVIConfig",
    "Schedule",
    "TrainConfig",
    "configure",
    # run time
    "chain_seeds",
    "limit_threads",
    "pyro_section",
    "resolve_device",
    "resolve_progress",
    "resolve_seed",
    "seed_stream",
    # inference
    "ModelTarget",
    "NUTSRun",
    "NUTSTarget",
    "NonFiniteLossError",
    "SVIRun",
    "first_nonfinite_site",
    "importance_draws",
    "psis_khat",
    "run_nuts",
    "run_svi",
]

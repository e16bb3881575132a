"""DDPM as a Pyro latent chain: the decoder (:mod:`.decoder`), the model and its Pyro pair
(:mod:`.model`), the samplers (:mod:`.sampling`) and the result (:mod:`.result`)."""

from probmodels.models.ddpm.decoder import DiscretizedGaussian
from probmodels.models.ddpm.model import DDPM, DDPMTrainConfig
from probmodels.models.ddpm.result import DDPMEvaluation, DDPMFit

__all__ = ["DDPM", "DDPMEvaluation", "DDPMFit", "DDPMTrainConfig", "DiscretizedGaussian"]

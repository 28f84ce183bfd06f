"""User-level differential privacy for federated averaging.

DP-FedAvg (McMahan, Ramage, Talwar, Zhang, "Learning Differentially Private Recurrent Language
Models", ICLR 2018): sample factories, clip each factory's update to L2 norm C, sum, add
N(0, (z C)^2), divide by the expected cohort size; account the rounds with Google's dp_accounting.
Adaptive clipping (Andrew, Thakkar, McMahan, Ramaswamy, "Differentially Private Learning with
Adaptive Clipping", NeurIPS 2021) tracks a quantile of the update norms privately.

One concept per module: `clipping`, `gaussian`, `dp_fedavg`, `adaptive_clip`, `sampling`,
`accountant`.
"""

from __future__ import annotations

from fl_engine.privacy.accountant import PrivacyAccountant, default_delta, event_multiplier
from fl_engine.privacy.adaptive_clip import AdaptiveClip, effective_noise_multiplier
from fl_engine.privacy.clipping import clip_updates
from fl_engine.privacy.dp_fedavg import distributed_noise_std, dp_mean_update
from fl_engine.privacy.gaussian import noisy_sum
from fl_engine.privacy.sampling import poisson_sample, uniform_sample

__all__ = [
    "AdaptiveClip",
    "PrivacyAccountant",
    "clip_updates",
    "default_delta",
    "distributed_noise_std",
    "dp_mean_update",
    "effective_noise_multiplier",
    "event_multiplier",
    "noisy_sum",
    "poisson_sample",
    "uniform_sample",
]

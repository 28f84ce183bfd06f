"""What the server receives in one lab round under the privacy and communication settings, and
what it hands to the server rule (docs/lab.md, section 5).

Three stages sit between the models the clients trained and the rule that averages them:
- compression (`fl_engine.compression`): each client sends its update (model minus global) in the
  chosen encoding; the server decodes it. Bytes up are the exact encoded sizes.
- differential privacy, DP-FedAvg (McMahan et al., ICLR 2018; `fl_engine.privacy`): every update
  clipped to norm C, Gaussian noise sigma*C on their sum, divided by the expected number of
  clients. Every factory counts once (user-level privacy), whatever its rows. The accountant
  (Google's dp-accounting, RDP) composes one subsampled Gaussian per round.
- secure aggregation (Bonawitz et al., CCS 2017; `fl_engine.secagg`): the server learns only the
  sum. Clients send their update scaled by their rows, with the rows as one more coordinate, so
  the server can still weight by rows. Under DP each client adds its share of the noise, so no
  party ever holds the unnoised sum, sized for the smallest cohort that can finish the round (the
  threshold t, as Kairouz, Liu & Steinke, ICML 2021, size distributed noise for a lower bound on
  the survivors): N(0, (z C)^2 / t) each, so any t or more survivors carry at least z C and the
  accountant's z holds. Stragglers advertised keys and dropped before sending: the protocol
  removes their masks. A client whose update is not finite or out of the ring's range refuses
  to mask it and drops out the same way (`refused`): the server could not screen it in the sum.
The result is one model, global + mean update, that the averaging rule (FedAvg, FedAvgM, FedAdam)
steps to; without DP and secure aggregation the rule gets every client's decoded model as before.

Every round is a release under DP, whoever turns up: `deliver` is called for empty rounds too
(the central noise alone is released, and the accountant steps). What each round really added is
in `Delivered` (`noise_multiplier`, `count_noise_multiplier`, `threshold`), for the round record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from fl_engine.compression import make_compressor
from fl_engine.lab.config import LabConfig
from fl_engine.lab.schedule import cohort_size
from fl_engine.privacy import (
    AdaptiveClip,
    PrivacyAccountant,
    clip_updates,
    distributed_noise_std,
    dp_mean_update,
    effective_noise_multiplier,
)
from fl_engine.secagg import SecAggError, default_threshold, encodable, secure_sum


def count_noise_multiplier(noise_multiplier: float, expected_clients: float) -> float:
    """Adaptive clipping's count noise z_b: Andrew et al. suggest expected clients / 20; at least
    z, so that 2 z_b > z and the update noise can make up the rest of the budget."""
    return max(expected_clients / 20.0, noise_multiplier) if noise_multiplier > 0 else 0.0


@dataclass
class Delivered:
    """What reaches the server rule this round."""

    models: Tensor  # [m, n_params]: the clients' decoded models, or one model (global + mean)
    weights: Tensor  # [m]
    per_client: bool  # models[i] is participant i's (else one summed model, m <= 1)
    rejected: list[int] = field(default_factory=list)  # participant positions left out already
    bytes_up: int = 0
    bytes_down: int = 0
    clip: float | None = None  # C used this round (DP)
    failure: str | None = None  # the round failed (secure aggregation below threshold)
    noise_multiplier: float | None = None  # noise std actually on the sum of clipped updates / C
    count_noise_multiplier: float | None = None  # adaptive clipping's count noise (in clients)
    threshold: int | None = None  # secure aggregation: survivors needed to unmask
    refused: list[int] = field(default_factory=list)  # positions that refused to mask (secagg)


class RoundServer:
    """The server's side of every round of one run: compression memory, adaptive clip, and the
    privacy accountant, kept across rounds."""

    def __init__(self, config: LabConfig, n_params: int, weight_scale: float) -> None:
        self.config = config
        self.n_params = n_params
        self.weight_scale = weight_scale  # rows of a mean node: client weights near 1 in the ring
        self.compressor = (
            make_compressor(
                config.compression,
                n_nodes=config.nodes,
                topk_fraction=config.topk_fraction,
                mask_fraction=config.mask_fraction,
            )
            if config.compression != "none"
            else None
        )
        self.generator = torch.Generator().manual_seed(config.seed + 11)
        # Secure aggregation's Shamir shares, keys and masks: the OS CSPRNG (no seeded rng here)
        rate = min(config.sample_fraction, 1.0)
        if config.dp_sampling == "uniform" or not config.differential_privacy:
            rate = cohort_size(config) / config.nodes  # the fixed cohort `plan_round` draws
        self.sampling_rate = rate  # what the accountant is told
        self.expected_clients = rate * config.nodes
        count_noise = count_noise_multiplier(config.dp_noise, self.expected_clients)
        self.adaptive = (
            AdaptiveClip(
                initial_clip=config.clip,
                target_quantile=config.dp_target_quantile,
                count_noise_multiplier=count_noise,
            )
            if config.dp_adaptive_clip
            else None
        )
        self.noise = config.dp_noise
        if self.adaptive is not None and config.dp_noise > 0:
            # the count is noised too; the update noise is raised so the total cost is dp_noise
            self.noise = effective_noise_multiplier(config.dp_noise, count_noise)
        self.accountant = (
            PrivacyAccountant(
                noise_multiplier=config.dp_noise,
                sampling_rate=rate,
                delta=config.delta,
                sampling=config.dp_sampling,
                population=config.nodes,
            )
            if config.dp_noise > 0
            else None
        )

    @property
    def epsilon(self) -> float | None:
        """Epsilon spent so far at the run's delta; None without noise (no guarantee at all)."""
        return None if self.accountant is None else self.accountant.epsilon

    def budget_allows(self) -> bool:
        """One more round stays within `target_epsilon` (always, without a target)."""
        target = self.config.target_epsilon
        if target is None or self.accountant is None:
            return True
        return self.accountant.epsilon_after(1) <= target

    def deliver(
        self,
        global_params: Tensor,  # [n_params]
        sent: Tensor,  # [k, n_params] the participants' models, as they trained (or attacked)
        weights: Tensor,  # [k] their rows
        participants: np.ndarray,  # [k] node ids
        n_stragglers: int,
        n_sampled: int,
        round_no: int,
    ) -> Delivered:
        cfg = self.config
        down = 4 * self.n_params * n_sampled  # the global model, float32, to every sampled node
        if self.accountant is not None:
            self.accountant.step()  # the round's release happens whoever turns up
        updates = sent - global_params
        up = 4 * self.n_params * len(sent)
        if self.compressor is not None and len(sent):
            packed = self.compressor(updates, participants, self.generator)
            updates = packed.updates.to(sent.dtype)
            up = int(np.sum(packed.nbytes))
        if cfg.secure_aggregation:
            return self._secure(global_params, updates, weights, n_stragglers, round_no, down)
        if not cfg.differential_privacy:
            models = global_params + updates
            return Delivered(models, weights, True, bytes_up=up, bytes_down=down)
        finite = torch.isfinite(updates).all(dim=1)
        rejected = (~finite).nonzero().flatten().tolist()
        clip = self.adaptive.clip if self.adaptive is not None else cfg.clip
        mean, norms = dp_mean_update(
            updates[finite], clip, self.noise, self.expected_clients, self.generator
        )
        count_noise = None
        if self.adaptive is not None:
            self.adaptive.update(norms, self.expected_clients, self.generator)
            count_noise = self.adaptive.count_noise_multiplier if self.noise > 0 else None
        return Delivered(
            (global_params + mean)[None],
            torch.ones(1, dtype=weights.dtype),
            False,
            rejected=rejected,
            bytes_up=up,
            bytes_down=down,
            clip=clip,
            noise_multiplier=self.noise if self.noise > 0 else None,
            count_noise_multiplier=count_noise,
        )

    def _secure(
        self,
        global_params: Tensor,
        updates: Tensor,  # [k, n_params]
        weights: Tensor,  # [k]
        n_stragglers: int,
        round_no: int,
        down: int,
    ) -> Delivered:
        """The participants' (and the stragglers', who drop before sending) secure sum."""
        cfg, k = self.config, len(updates)
        clients = k + n_stragglers
        clip = cfg.clip if cfg.differential_privacy else None
        if clients < 2:
            return Delivered(
                global_params[None][:0], weights[:0], False, bytes_down=down, clip=clip,
                failure=f"secure aggregation needs at least 2 clients, {clients} took part",
            )  # fmt: skip
        share = cfg.secagg_threshold
        threshold = (
            default_threshold(clients) if share is None else max(2, math.ceil(share * clients))
        )
        client_std = 0.0
        if clip is not None:
            clipped, _ = clip_updates(torch.nan_to_num(updates), clip)
            # noise for the smallest cohort that finishes: t survivors carry (z C)^2 together
            client_std = distributed_noise_std(self.noise, clip, threshold)
            noise = torch.randn(clipped.shape, generator=self.generator, dtype=torch.float64)
            rows = (clipped.double() + client_std * noise).numpy()  # [k, n_params]
            rows[~torch.isfinite(updates).all(dim=1).numpy()] = np.nan  # refused, as sent
        else:
            w = (weights.double() / self.weight_scale)[:, None]  # [k, 1]
            rows = np.hstack([(w * updates.double()).numpy(), w.numpy()])  # [k, n_params + 1]
        inputs = np.vstack([rows, np.zeros((n_stragglers, rows.shape[1]))])
        # what each client's own check will refuse to mask (secure_sum applies the same check)
        refused = np.flatnonzero(~encodable(rows, max_summands=clients)).tolist()
        try:
            result = secure_sum(
                inputs, threshold=threshold, dropped=list(range(k, clients)), round_id=round_no
            )
        except SecAggError as exc:
            return Delivered(
                global_params[None][:0], weights[:0], False, bytes_down=down, clip=clip,
                failure=f"secure aggregation: {exc}", threshold=threshold, rejected=refused,
                refused=refused,
            )  # fmt: skip
        if result.refused != refused:
            raise RuntimeError(f"clients refused {result.refused}, expected {refused}")
        total = torch.as_tensor(result.total, dtype=torch.float64)
        up, down = int(result.bytes_up.sum()), down + int(result.bytes_down.sum())
        noise_multiplier = None
        if clip is not None:
            mean = total / self.expected_clients
            if self.noise > 0:  # the noise the survivors really added, over C
                noise_multiplier = math.sqrt(len(result.survivors)) * client_std / clip
        elif float(total[-1]) <= 0:
            return Delivered(
                global_params[None][:0], weights[:0], False, rejected=refused, bytes_up=up,
                bytes_down=down, failure="secure aggregation: the clients' weights summed to zero",
                threshold=threshold, refused=refused,
            )  # fmt: skip
        else:
            mean = total[:-1] / total[-1]
        model = (global_params.double() + mean).to(global_params.dtype)[None]
        return Delivered(
            model,
            torch.ones(1, dtype=weights.dtype),
            False,
            rejected=refused,
            bytes_up=up,
            bytes_down=down,
            clip=clip,
            noise_multiplier=noise_multiplier,
            threshold=threshold,
            refused=refused,
        )

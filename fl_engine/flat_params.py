"""Any `nn.Module`'s parameters as one flat vector, and the module run on such a vector.

A federation of many copies of one model is then a plain [nodes, n_params] matrix: FedAvg is a
weighted mean of its rows, Adam updates every node with a few elementwise ops, and
`torch.func.functional_call` runs the module on one row's parameters (`vmap` on many rows). The
FF09 MLP has its own hand-packed layout (`model.FlatLayout`); this one takes a module's parameters
in `named_parameters()` order, so it fits any architecture without writing its gradients by hand.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import functional_call


@dataclass(frozen=True)
class ParamLayout:
    """Where each named parameter lives in the flat vector: names in `named_parameters()` order."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]

    @classmethod
    def of(cls, module: nn.Module) -> ParamLayout:
        if any(True for _ in module.buffers()):
            raise ValueError(
                "functional training stacks parameters only; a module with buffers "
                "(e.g. batch norm statistics) is not supported"
            )
        named = list(module.named_parameters())
        return cls(tuple(n for n, _ in named), tuple(tuple(p.shape) for _, p in named))

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(math.prod(s) for s in self.shapes)

    @property
    def n_params(self) -> int:
        return sum(self.sizes)

    def unflatten(self, flat: Tensor) -> dict[str, Tensor]:
        """Views into `flat` [..., n_params], shaped [..., *param_shape] (writes go through)."""
        lead, out, start = flat.shape[:-1], {}, 0
        for name, shape, size in zip(self.names, self.shapes, self.sizes, strict=True):
            out[name] = flat[..., start : start + size].view(*lead, *shape)
            start += size
        return out

    def flatten(self, state: Mapping[str, Tensor], lead: tuple[int, ...] = ()) -> Tensor:
        """The inverse of `unflatten`: tensors [*lead, *param_shape] -> [*lead, n_params] float32.

        Checks every name and shape, so a file from another model is refused with its reason.
        """
        missing = [n for n in self.names if n not in state]
        if missing:
            raise ValueError(f"model weights lack {missing}")
        extra = sorted(set(state) - set(self.names))
        if extra:
            raise ValueError(f"model weights have unknown tensors {extra}")
        parts = []
        for name, shape in zip(self.names, self.shapes, strict=True):
            got = tuple(state[name].shape)
            if got != (*lead, *shape):
                raise ValueError(f"model weight {name} has shape {got}, expected {(*lead, *shape)}")
            parts.append(state[name].detach().reshape(*lead, -1).float())
        return torch.cat(parts, dim=-1)

    def to_state_dict(self, flat: Tensor) -> dict[str, Tensor]:
        """Contiguous copies (what safetensors and `load_state_dict` need)."""
        return {k: v.detach().clone().contiguous() for k, v in self.unflatten(flat).items()}


@dataclass(frozen=True)
class FunctionalModel:
    """A module used as a pure function of (flat parameters, inputs): its own weights are unused.

    The module's forward must map inputs [batch, ...] to predictions [batch].
    """

    module: nn.Module
    layout: ParamLayout

    @classmethod
    def of(cls, module: nn.Module) -> FunctionalModel:
        return cls(module, ParamLayout.of(module))

    def initial_params(self) -> Tensor:
        """The module's own (seeded by whoever built it) parameters, flat [n_params]."""
        return self.layout.flatten(dict(self.module.named_parameters()))

    def __call__(self, flat: Tensor, x: Tensor) -> Tensor:
        """One model: flat [n_params], x [batch, ...] -> [batch]."""
        out: Tensor = functional_call(self.module, self.layout.unflatten(flat), (x,))
        return out

    def many(self, params: Tensor, x: Tensor) -> Tensor:
        """Many models on the same inputs, no gradients: params [k, n_params] -> [k, batch].

        A loop, not `vmap`: with inputs shared by every model, vmap's batched matmuls copy the
        inputs once per model (measured 5-10x slower for 82 window models on 16k windows).
        """
        with torch.no_grad():
            outs = [self(p, x) for p in params]
        return torch.stack(outs) if outs else torch.zeros(0, len(x))

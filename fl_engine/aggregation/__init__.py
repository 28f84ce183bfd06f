"""Aggregation rules: `rule(updates [k, n_params], weights [k]) -> new global params [n_params]`.

One rule per file; register new ones in `AGGREGATORS`.
"""

from fl_engine.aggregation.fedavg import fedavg

AGGREGATORS = {"fedavg": fedavg}

__all__ = ["AGGREGATORS", "fedavg"]

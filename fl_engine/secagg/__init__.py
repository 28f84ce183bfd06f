"""Secure aggregation (Bonawitz et al. 2017, CCS): the server learns the sum of the clients'
updates and nothing else, even when some clients drop out mid-round.

`secure_sum` runs one round; the modules below are its parts, one concept each.
"""

from fl_engine.secagg.client import Client
from fl_engine.secagg.errors import SecAggError
from fl_engine.secagg.fixed_point import clamp_bound, decode, encodable, encode
from fl_engine.secagg.protocol import SecAggRound, default_threshold, secure_sum
from fl_engine.secagg.server import Server
from fl_engine.secagg.view import SecAggServerView

__all__ = [
    "Client",
    "SecAggError",
    "SecAggRound",
    "SecAggServerView",
    "Server",
    "clamp_bound",
    "decode",
    "default_threshold",
    "encodable",
    "encode",
    "secure_sum",
]

"""The one error the protocol raises when a round must abort.

Bonawitz et al. 2017 (CCS, Fig. 4) abort a round whenever fewer than t clients remain at a step,
or when a message is malformed; an abort reveals nothing beyond what was already sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fl_engine.secagg.view import SecAggServerView


class SecAggError(ValueError):
    """A secure-aggregation round aborted; `server_view` is what the server held when it did."""

    def __init__(self, message: str, server_view: SecAggServerView | None = None) -> None:
        super().__init__(message)
        self.server_view = server_view

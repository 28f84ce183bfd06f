"""A lab model deployed into a game, and how long it stays there (docs/lab.md, section 4).

One lifecycle, said in one sentence (`KEPT`) that the state carries, the dashboard shows beside
the model's badge and docs/lab.md quotes: a deployment belongs to its game session while this
server runs. It is kept across reloads of the game (the registry holds it while nobody watches
the game, `KeptDeployments`) and dropped by New game, by "Use the default model" and by a server
restart, since lab models are not saved (the saved game records the model's name only, so a game
resumed without its model says so instead of switching models silently).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.game.decisions import DecisionTables
from app.game.engines import EngineTrace

KEPT = (
    "kept while this server runs, across reloads of this game; New game, "
    '"Use the default model" and a server restart drop it (lab models are not saved)'
)
# Deployments of games nobody watches that the registry holds (the oldest are forgotten first):
# each holds the pool's predictions and its decision tables, a few MB at most.
MAX_KEPT = 32


@dataclass(frozen=True)
class Deployment:
    """A lab model as the game plays it: the pool with its predictions and margin, the decision
    tables built for that pool, and `view` (`LabModelView` as JSON) for the state."""

    pool: Sequence[EngineTrace]
    tables: DecisionTables
    view: dict[str, Any]

    @property
    def label(self) -> str:
        return str(self.view["label"])


def dropped_notice(label: str) -> str:
    """What a resumed game that ran a lab model this server no longer holds is told."""
    return (
        f'This game ran the lab model "{label}", which this server no longer holds (a '
        f"deployment is {KEPT}); the default federated model decides again: deploy it again "
        "from the Federation Lab to use it."
    )


class KeptDeployments:
    """The deployments of games out of memory (nobody watching), by session id, until the game
    is picked up again while this server runs; at most `limit`, the oldest forgotten first."""

    def __init__(self, limit: int = MAX_KEPT) -> None:
        self.limit = limit
        self._kept: OrderedDict[str, Deployment] = OrderedDict()

    def keep(self, session_id: str, deployment: Deployment) -> None:
        self._kept[session_id] = deployment
        self._kept.move_to_end(session_id)
        while len(self._kept) > self.limit:
            self._kept.popitem(last=False)

    def take(self, session_id: str) -> Deployment | None:
        """The game's deployment, handed back to it (no longer kept here)."""
        return self._kept.pop(session_id, None)

    def get(self, session_id: str) -> Deployment | None:
        return self._kept.get(session_id)

    def __len__(self) -> int:
        return len(self._kept)

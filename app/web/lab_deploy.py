"""Deploying a lab run's model into a game (docs/lab.md, section 4): `deploy` answers one
`deploy` message with the frame to send.

The model is measured before it goes in: a model that earns less than the default federated
model (as % of the oracle's profit, both by the same fast fleet simulation) is not deployed
unless the message says `confirm_worse`; the answer is then a `DeployCheck` the Lab page asks
the player about. The label names every setting that changes what the model is worth or what it
cost (rounds, nodes, aggregation against which attack, DP with its epsilon, secure aggregation,
compression), so a DP run never goes in under a plain run's name. Expected refusals (nothing
trained yet, a game not being played, a model the game cannot use) are logged in one line; only
a failure nobody expected gets a traceback.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pydantic import BaseModel

from app.web.deployments import KEPT, Deployment
from app.web.lab_runs import LabRunLike, LabServer
from app.web.lab_schemas import Deploy, DeployCheck, Deployed, LabError
from app.web.model_schemas import LabModelView

_log = logging.getLogger("tycoon.lab")


def model_label(config: Any, rounds: int, epsilon: float | None = None) -> str:
    """How the game names a deployed lab model: "lab model: 20 rounds, 80 nodes, median vs 20%
    sign_flip, DP eps 4.3, secure aggregation, int8" (the parts a plain run has not left out)."""
    parts = [f"{rounds} round{'' if rounds == 1 else 's'}", f"{config.nodes} nodes"]
    rule = str(config.aggregation)
    if config.attack != "none":
        count = len(config.attacker_nodes)
        share = f"{count} attacker{'' if count == 1 else 's'}" if count else ""
        share = share or f"{100 * config.attackers:.0f}%"
        rule += f" vs {share} {config.attack}"
    parts.append(rule)
    if config.dp_noise > 0:
        parts.append("DP eps " + ("?" if epsilon is None else f"{epsilon:.1f}"))
    elif config.dp_clip is not None:
        parts.append(f"clipped updates (C {config.dp_clip:g}, no noise)")
    if config.secure_aggregation:
        parts.append("secure aggregation")
    if config.compression != "none":
        parts.append(str(config.compression))
    if config.partition != "iid":
        parts.append(f"{config.partition} partition")
    if getattr(config, "runtime", "inprocess") != "inprocess":
        parts.append(str(config.runtime))
    return "lab model: " + ", ".join(parts)


def refused(message: str, field: str | None = None, logged: str | None = None) -> LabError:
    """An expected refusal: the error frame, and one line in the log (no traceback; `logged`
    stands for `message` there when it names a session id, the game's only credential)."""
    _log.warning("lab deployment refused: %s", logged or message)
    return LabError(message=message, field=field)


def not_live(session: str) -> LabError:
    where = "not being played on this server right now"
    return refused(
        f"the game {session} is {where}: open the game's dashboard (a game lives while a tab "
        "shows it), then deploy again",
        "session",
        f"the game is {where}",
    )


def worse_text(mine: float, default: float, local: float) -> str:
    return (
        f"this model earns {mine:.1f}% of the oracle's profit in the game, less than the default "
        f"federated model's {default:.1f}% (the local models' median: {local:.1f}%): deploying "
        "it would cost your game money"
    )


async def deploy(
    server: LabServer, run: LabRunLike, message: Deploy, model_lock: asyncio.Lock
) -> BaseModel:
    """The answer to `message` for `run`'s current global model: `Deployed`, `DeployCheck` (it
    earns less than the default and the message did not confirm: nothing changed) or `LabError`."""
    session = message.session
    try:
        async with model_lock:  # the model as of the last finished round
            rounds = run.rounds_done
            last = dict(run.records[-1]) if run.records else {}
            pool, tables = await server.workers.call(lambda: server.backend.deploy(run))
        mine, (default, local) = await asyncio.gather(
            asyncio.to_thread(server.backend.percent_of_oracle, pool), server.reference()
        )
    except ValueError as exc:  # refused in words: a diverged model, another partition's
        return refused(str(exc))
    label = model_label(run.config, rounds, last.get("epsilon"))
    worse = mine < default
    figures: dict[str, Any] = {
        "session": session,
        "model": label,
        "rounds_done": rounds,
        "percent_of_oracle": mine,
        "default_percent_of_oracle": default,
        "local_percent_of_oracle": local,
    }
    if worse and not message.confirm_worse:
        _log.info("lab deployment held for confirmation: %s earns less than the default", label)
        return DeployCheck(**figures, message=worse_text(mine, default, local))
    game = server.registry.games.get(session)
    if game is None:
        return not_live(session)
    decision = server.settings.game.decision
    view = LabModelView(
        label=label,
        rounds=rounds,
        rmse=last.get("rmse"),
        late_life_rmse=last.get("late_life_rmse"),
        decision=decision,
        margin=pool[0].margins.federated,
        percent_of_oracle=mine,
        default_percent_of_oracle=default,
        local_percent_of_oracle=local,
        worse_than_default=worse,
        kept=KEPT,
    )
    game.session.deploy(Deployment(pool, tables, view.model_dump(mode="json")))
    game.changed()
    _log.info("lab model deployed into a game: %s", label)
    return Deployed(
        **figures,
        worse_than_default=worse,
        warning=worse_text(mine, default, local) if worse else None,
        kept=KEPT,
    )

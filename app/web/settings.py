"""The server's settings: where it listens, where its files are, its limits, and the game's rules.

Read from `TYCOON_*` environment variables (nested: `TYCOON_GAME__FAIR_DRAWS=false`); the
command line overrides them only for the flags it is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.game.settings import GameSettings

# The repository root: templates/ and static/ sit next to app/.
ROOT = Path(__file__).resolve().parent.parent.parent


class Settings(BaseSettings):
    """Server settings: where to listen, where data and trained artifacts are, and the game."""

    model_config = SettingsConfigDict(env_prefix="TYCOON_", env_nested_delimiter="__")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    data_dir: Path | None = None
    artifacts_dir: Path = Path("artifacts")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seed of the game models' training.")
    model: Literal["window", "ff09"] = Field(
        "window", description="Model family of the game's predictions (ff09: the FF09 MLP)."
    )
    calibration: Literal["in-sample", "cross-fit"] = Field(
        "in-sample",
        description="How every model's margin is measured on its training engines (cross-fit: "
        "on models that never saw them; 3x the training). The decision is `game.decision`.",
    )
    max_ticks_per_second: float = Field(50.0, gt=0, description="Fastest speed a session may run.")
    min_ticks_per_second: float = Field(
        0.1, gt=0, description="Slowest speed above 0 (0 pauses); a smaller one is refused."
    )
    max_frames_per_second: float = Field(
        15.0,
        gt=0,
        le=120,
        description="Frames a client gets per second at most (ticks batch). 15 keeps 200 "
        "dashboards at 50x within 100 ms gaps on 2 cores (bench/load.py); 20 was at the edge.",
    )
    frame_window: int = Field(
        8, ge=1, le=1000, description="Delta frames sent beyond the client's last ack."
    )
    commands_per_second: float = Field(
        20.0, gt=0, description="Commands a connection may send per second, on average."
    )
    command_burst: int = Field(40, ge=1, description="Commands a connection may send at once.")
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Origins besides the server's own whose pages may open a game "
        '(e.g. ["https://tycoon.example"]); TYCOON_ALLOWED_ORIGINS as a JSON list.',
    )
    max_games: int = Field(1000, ge=1, description="Games played at once, server-wide.")
    max_connections_per_client: int = Field(
        50, ge=1, description="Websocket connections one client address may hold at once."
    )
    max_connections: int = Field(
        900,
        ge=1,
        description="Open connections (HTTP and websockets) the server holds at once; more get "
        "503 and are closed at once. Kept 100 below the open-file limit (raised to fit if the "
        "hard limit allows): 1,200 idle sockets under 1,024 descriptors starved /api/health.",
    )
    header_timeout_s: float = Field(
        10.0,
        gt=0,
        le=300,
        description="Seconds a connection has to send a complete request head, from connecting "
        "or from its previous response; idle and slowloris sockets are closed after it.",
    )
    keep_alive_s: float = Field(
        5.0,
        gt=0,
        le=300,
        description="Seconds an HTTP connection stays open idle between requests (at most "
        "header_timeout_s, which runs too).",
    )
    max_lab_runs: int = Field(
        2, ge=1, description="Lab runs training at once, server-wide (others wait in line)."
    )
    max_lab_work: float = Field(
        200e6,
        gt=0,
        description="The most training one lab run may cost, in node-row-epochs (nodes x rows "
        "per node x local epochs x rounds; docs/lab.md, section 6); a bigger run is refused in "
        "words. 200 million: about 25 minutes of one core for the window model, 6 for FF09; "
        "the Lab's default run costs 1.2 million.",
    )
    max_paused_lab_runs: int = Field(
        2,
        ge=0,
        description="Paused in-process lab runs that give their training slot back, server-wide "
        "(each keeps its model and data in memory); a run paused beyond them keeps its slot. "
        "A Flower deployment keeps its slot while paused.",
    )
    database: Path = Field(
        Path(), description="Where games are saved (SQLite); default ARTIFACTS/games.sqlite3."
    )
    save_interval_s: float = Field(1.0, gt=0, le=60, description="Saving period of a game.")
    game_expiry_days: float = Field(7.0, gt=0, description="Saved games unused this long go.")
    default_ticks_per_second: float = Field(2.0, gt=0, description="Speed of a new session.")
    max_message_bytes: int = Field(
        4096, ge=64, description="Larger client messages get an error frame."
    )
    max_json_depth: int = Field(
        16,
        ge=4,
        le=512,
        description="Lab and compare messages nested deeper get an error frame, before anything "
        "recurses into them (the deepest valid one, a lab start naming attacker_nodes, has 3).",
    )
    history_limit: int = Field(
        5000, ge=10, description="Profit-history points a session keeps (older ones are dropped)."
    )
    templates_dir: Path = ROOT / "templates"
    static_dir: Path = ROOT / "static"
    game: GameSettings = GameSettings()

    def with_decision(self, decision: str | None) -> Settings:
        """These settings with the game's decision set (a `--decision` flag wins over
        $TYCOON_GAME__DECISION and keeps every other game setting); None changes nothing."""
        if decision is None:
            return self
        game = GameSettings.model_validate({**self.game.model_dump(), "decision": decision})
        return self.model_copy(update={"game": game})

    @model_validator(mode="after")
    def _database_beside_the_artifacts(self) -> Settings:
        if self.database == Path():
            self.database = self.artifacts_dir / "games.sqlite3"
        return self

    @model_validator(mode="after")
    def _default_speed_within_the_limit(self) -> Settings:
        if self.default_ticks_per_second > self.max_ticks_per_second:
            raise ValueError(
                f"default_ticks_per_second ({self.default_ticks_per_second:g}) is above "
                f"max_ticks_per_second ({self.max_ticks_per_second:g})"
            )
        return self

"""What a lab run costs before it starts, and how a running one is stopped (docs/lab.md, section 6).

A server lends its cores to whoever opens the lab, so a run's work is estimated before any of it
is done and a run too big for the server is refused in words (`LabWork.refusal`). The unit is the
node-row-epoch: one node passing once over one of its rows. Training is what grows with the
settings (8,000 nodes x 20 local epochs x 500 rounds is 10^5 times the default run); scoring,
aggregation and start-up do not, so they are left out. The estimate:

    nodes x sample_fraction x rows per node x local_epochs x rounds
      (+ with personalize k: every factory's rows x (k + rounds x local_epochs))

Rows per node are the protocol's training rows (from the data, exactly) over the distinct
partitions (at most 80 in process; above that the partitions are replicated, so a node still
holds 1/80 of them). Dropouts and the privacy budget can only make a run cheaper.

`Cancelled` is what a round raises once its run's cancel flag is set: the round stops between
two batches of nodes (`LabNodes.train`), and the run is over.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fl_engine.data import Runs
from fl_engine.features import ProtocolData, prepare_protocol
from fl_engine.lab.conditions import condition_protocol, condition_runs, has_conditions
from fl_engine.lab.config import LabConfig

BASE_NODES = 80  # distinct partitions in process (`run.BASE_NODES`)
N_TEST_ENGINES = 80


class Cancelled(Exception):
    """The run's cancel flag was set: its round stopped between two batches of nodes."""


def _amount(value: float) -> str:
    """A count in words a reader takes in at a glance: 2.3 billion, 45.1 million, 58,733."""
    for size, name in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million")):
        if value >= size:
            return f"{value / size:.1f} {name}"
    return f"{value:,.0f}"


@dataclass(frozen=True)
class LabWork:
    """A run's estimated training work in node-row-epochs (see the module docstring)."""

    nodes: int
    rows_per_node: float
    local_epochs: int
    rounds: int
    sample_fraction: float
    personalize: int
    train_rows: int  # every distinct factory's rows together

    @property
    def total(self) -> float:
        rounds = self.nodes * self.sample_fraction * self.rows_per_node * self.local_epochs
        rounds *= self.rounds
        if self.personalize:
            rounds += self.train_rows * (self.personalize + self.rounds * self.local_epochs)
        return rounds

    def words(self) -> str:
        """'about 2.3 billion node-row-epochs (8,000 nodes x 734 rows each x 20 local epochs x
        20 rounds)', with the sampled share and personalization where they count."""
        terms = [f"{self.nodes:,} nodes"]
        if self.sample_fraction < 1:
            terms.append(f"{self.sample_fraction:g} of them sampled")
        terms += [
            f"{self.rows_per_node:,.0f} rows each",
            f"{self.local_epochs} local epoch{'s' if self.local_epochs != 1 else ''}",
            f"{self.rounds} round{'s' if self.rounds != 1 else ''}",
        ]
        extra = f", plus {self.personalize} epochs of personalization" if self.personalize else ""
        return f"about {_amount(self.total)} node-row-epochs ({' x '.join(terms)}{extra})"

    def refusal(self, limit: float) -> str:
        """The sentence a refused run gets: its size and the server's limit."""
        return (
            f"this run is too big for this server: {self.words()}, above the limit of "
            f"{_amount(limit)} node-row-epochs a lab run may cost here; use fewer nodes, local "
            "epochs or rounds"
        )


def train_rows(runs: Runs, config: LabConfig, data_dir: Path | None = None) -> int:
    """The protocol's training rows for `config` (the same split and data as the run's)."""
    data: ProtocolData
    if config.partition == "condition":
        source = runs if has_conditions(runs) else condition_runs(data_dir)
        data = condition_protocol(source, config.seed).protocol
    else:
        data = prepare_protocol(runs, config.seed, N_TEST_ENGINES)
    return int(sum(len(data.engine_rows[e]) for e in data.train_engines))


def lab_work(runs: Runs, config: LabConfig, data_dir: Path | None = None) -> LabWork:
    """`config`'s estimated work on this data (in process or on a Flower deployment alike)."""
    rows = train_rows(runs, config, data_dir)
    distinct = min(config.nodes, BASE_NODES)
    return LabWork(
        nodes=config.nodes,
        rows_per_node=rows / distinct,
        local_epochs=config.local_epochs,
        rounds=config.rounds,
        sample_fraction=config.sample_fraction if config.runtime == "inprocess" else 1.0,
        personalize=config.personalize,
        train_rows=rows,
    )

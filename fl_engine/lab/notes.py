"""Sentences a lab run's `final` carries for the user: what a setting did that the curves alone
do not say (docs/lab.md, section 5). Each is measured from the run's own round records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fl_engine.lab.config import LabConfig


def run_notes(config: LabConfig, records: Sequence[dict[str, Any]]) -> list[str]:
    """The notes for `config` after `records`; empty when there is nothing to add."""
    notes = []
    refused = sorted({n for r in records for n in r.get("refused", [])})
    if config.secure_aggregation and config.attack != "none":
        attackers = sorted({n for r in records for n in r["attackers"]})
        screened = [n for n in attackers if n in refused]
        notes.append(
            f"Secure aggregation hides every update from the server, so it cannot screen "
            f"attackers: {len(attackers) - len(screened)} of the {len(attackers)} attacking "
            f"nodes that took part sent updates that entered the sum unscreened"
            + (
                f", and {len(screened)} were kept out only because their own client refused to "
                f"mask an update that was not finite or out of range"
                if screened
                else ""
            )
            + ". A hostile client that skips that check can send any value in the ring; "
            "without secure aggregation a robust rule (median, trimmed mean, Krum) could screen "
            "them, at the price of the server seeing each update."
        )
    elif refused:
        notes.append(
            f"{len(refused)} nodes refused to mask an update that was not finite or out of range "
            "under secure aggregation; they dropped out of those rounds."
        )
    if config.secure_aggregation and config.dp_noise > 0:
        added = [r["noise_multiplier"] for r in records if r.get("noise_multiplier")]
        if added:
            notes.append(
                f"Under secure aggregation each client adds noise for the smallest cohort that "
                f"can finish a round (its threshold), so the sum carried noise "
                f"{min(added):.2f}-{max(added):.2f} times the clip, at least the "
                f"{config.dp_noise:g} the privacy accountant is told: epsilon holds whoever drops "
                f"out, at some accuracy."
            )
    return notes

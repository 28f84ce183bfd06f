"""NASA C-MAPSS loading, validation and the FF09 protocol data set.

The loader is written by hand rather than with pandas because every bad file must fail with a
message that names the file and the line, and the format (26 space-separated numbers a line) is
simple enough that a strict parser is shorter than wrapping a general one.
"""

from __future__ import annotations

import gzip
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fl_engine.arrays import BoolArray, FloatArray, IndexArray

SUBSETS = ("FD001", "FD002", "FD003", "FD004")
PROTOCOL_SUBSETS = ("FD001", "FD003")
N_COLUMNS = 26
RAW_COLUMNS = tuple(
    ["unit", "cycle"]
    + [f"setting_{i}" for i in range(1, 4)]
    + [f"sensor_{i}" for i in range(1, 22)]
)
# The 24 measured columns (3 operational settings + 21 sensors) a feature can come from.
SIGNAL_COLUMNS = RAW_COLUMNS[2:]

# Rows and units of the original CMAPSSData files, from ../shared/data/cmapss/SOURCES.md.
KNOWN_COUNTS: dict[str, tuple[int, int]] = {
    "train_FD001": (20631, 100),
    "train_FD002": (53759, 260),
    "train_FD003": (24720, 100),
    "train_FD004": (61249, 249),
    "test_FD001": (13096, 100),
    "test_FD002": (33991, 259),
    "test_FD003": (16596, 100),
    "test_FD004": (41214, 248),
}

EMBEDDED_DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "cmapss"
DATA_DIR_ENV = "TYCOON_DATA_DIR"

# A column is quasi-constant when one value fills at least this share of its rows. On FD001+FD003
# the dropped columns sit at >= 0.69 and every kept one at <= 0.26, so the cut is not delicate.
QUASI_CONSTANT_MODE_SHARE = 0.5


class DataError(ValueError):
    """A data file is missing or malformed; the message names the file (and line) for the user."""


def resolve_data_dir(flag: str | Path | None = None) -> Path:
    """The data directory by precedence: explicit flag, then $TYCOON_DATA_DIR, then the embedded set."""
    if flag:
        from_env = str(flag) == os.environ.get(
            DATA_DIR_ENV
        )  # settings objects read the variable too
        chosen, origin = Path(flag), f"${DATA_DIR_ENV}" if from_env else "--data-dir"
    elif os.environ.get(DATA_DIR_ENV):
        chosen, origin = Path(os.environ[DATA_DIR_ENV]), f"${DATA_DIR_ENV}"
    else:
        chosen, origin = EMBEDDED_DATA_DIR, "the embedded default"
    if not chosen.is_dir():
        raise DataError(
            f"data directory {chosen} (from {origin}) does not exist or is not a directory"
        )
    return chosen


def data_file(data_dir: Path, stem: str) -> Path:
    """`stem`.txt, or its gzipped copy `stem`.txt.gz as shipped in data/cmapss/."""
    for name in (f"{stem}.txt", f"{stem}.txt.gz"):
        path = Path(data_dir) / name
        if path.is_file():
            return path
    raise DataError(f"missing data file: {Path(data_dir) / (stem + '.txt')} (nor a .txt.gz copy)")


def _read_text(path: Path) -> str:
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        return raw.decode("ascii")
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: cannot read file ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a text file (byte {exc.start} is not ASCII)") from exc


def read_table(path: Path, n_columns: int) -> FloatArray:
    """Parse whitespace-separated numbers, exactly `n_columns` a line; blank lines are skipped.

    numpy's C parser reads a good file; only when it refuses one does the slow line-by-line pass
    below run, to name the line and the problem.
    """
    text = _read_text(path)
    try:
        if not text.strip():
            raise ValueError("empty")
        table = np.loadtxt(io.StringIO(text), dtype=np.float64, ndmin=2)
        if table.shape[1] == n_columns and table.shape[0] > 0 and np.isfinite(table).all():
            return table
    except ValueError:
        pass
    rows: list[list[float]] = []
    for line_no, line in enumerate(io.StringIO(text), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != n_columns:
            raise DataError(
                f"{path}, line {line_no}: expected {n_columns} columns, found {len(fields)}"
            )
        try:
            values = [float(f) for f in fields]
        except ValueError:
            bad = next(f for f in fields if not _is_float(f))
            raise DataError(f"{path}, line {line_no}: non-numeric value {bad!r}") from None
        if not all(np.isfinite(values)):
            raise DataError(f"{path}, line {line_no}: non-finite value")
        rows.append(values)
    if not rows:
        raise DataError(f"{path}: file is empty")
    return np.asarray(rows, dtype=np.float64)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Runs:
    """Engine runs, one row per engine cycle.

    `rul` is the true remaining useful life at each row. Engines from a train file ran to failure
    (`run_to_failure`); test-file engines stop early and their final RUL comes from RUL_FD00x.txt.
    """

    engine_ids: tuple[str, ...]  # [engines], e.g. "FD001-train-12"
    run_to_failure: BoolArray  # [engines]
    row_engine: IndexArray  # [rows] index into engine_ids
    cycle: IndexArray  # [rows] 1, 2, ... within each engine
    signals: FloatArray  # [rows, 24] the 3 settings and 21 sensors, raw units
    rul: FloatArray  # [rows]

    @property
    def n_engines(self) -> int:
        return len(self.engine_ids)

    @property
    def n_rows(self) -> int:
        return len(self.cycle)

    def subset_of(self, engine: int) -> str:
        return self.engine_ids[engine].split("-")[0]

    def engine_rows(self) -> list[IndexArray]:
        """Row indices of each engine, in cycle order."""
        order = np.argsort(self.row_engine, kind="stable")
        bounds = np.searchsorted(self.row_engine[order], np.arange(self.n_engines + 1))
        return [order[bounds[i] : bounds[i + 1]] for i in range(self.n_engines)]


def _units_and_cycles(path: Path, table: FloatArray) -> tuple[IndexArray, IndexArray, IndexArray]:
    """Unit ids in order of appearance, and each row's unit index; checks the cycle bookkeeping."""
    unit = table[:, 0].astype(np.int64)
    cycle = table[:, 1].astype(np.int64)
    if np.any(table[:, 0] != unit) or np.any(table[:, 1] != cycle) or np.any(cycle < 1):
        line = (
            int(np.flatnonzero((table[:, 0] != unit) | (table[:, 1] != cycle) | (cycle < 1))[0]) + 1
        )
        raise DataError(f"{path}, line {line}: unit and cycle must be positive whole numbers")
    starts = np.flatnonzero(np.r_[True, unit[1:] != unit[:-1]])
    units = unit[starts]
    if len(np.unique(units)) != len(units):
        raise DataError(f"{path}: the rows of a unit are not contiguous")
    row_unit = np.repeat(np.arange(len(units)), np.diff(np.r_[starts, len(unit)]))
    expected = np.arange(len(unit)) - starts[row_unit] + 1
    if np.any(cycle != expected):
        line = int(np.flatnonzero(cycle != expected)[0]) + 1
        raise DataError(
            f"{path}, line {line}: cycle {cycle[line - 1]} out of sequence (expected {expected[line - 1]})"
        )
    return units, row_unit, cycle


def load_split(data_dir: Path, subset: str, split: str) -> Runs:
    """One file of a subset: `split` is "train" (runs to failure) or "test" (with its RUL file)."""
    if subset not in SUBSETS:
        raise DataError(f"unknown C-MAPSS subset {subset!r}; choose from {', '.join(SUBSETS)}")
    if split not in ("train", "test"):
        raise DataError(f"unknown split {split!r}; choose train or test")
    path = data_file(data_dir, f"{split}_{subset}")
    table = read_table(path, N_COLUMNS)
    units, row_unit, cycle = _units_and_cycles(path, table)
    last_cycle = np.maximum.reduceat(
        cycle, np.flatnonzero(np.r_[True, row_unit[1:] != row_unit[:-1]])
    )
    final_rul = np.zeros(len(units))
    if split == "test":
        rul_path = data_file(data_dir, f"RUL_{subset}")
        rul_table = read_table(rul_path, 1)[:, 0]
        if len(rul_table) != len(units):
            raise DataError(
                f"{rul_path}: has {len(rul_table)} RUL values but {path} has {len(units)} units"
            )
        if np.any(rul_table < 0) or np.any(rul_table != np.round(rul_table)):
            line = int(np.flatnonzero((rul_table < 0) | (rul_table != np.round(rul_table)))[0]) + 1
            raise DataError(f"{rul_path}, line {line}: RUL must be a non-negative whole number")
        final_rul = rul_table
    rul = final_rul[row_unit] + (last_cycle[row_unit] - cycle)
    ids = tuple(f"{subset}-{split}-{u}" for u in units)
    return Runs(
        engine_ids=ids,
        run_to_failure=np.full(len(units), split == "train"),
        row_engine=row_unit,
        cycle=cycle,
        signals=table[:, 2:],
        rul=rul.astype(np.float64),
    )


def concat_runs(parts: list[Runs]) -> Runs:
    offsets = np.cumsum([0] + [p.n_engines for p in parts[:-1]])
    return Runs(
        engine_ids=tuple(i for p in parts for i in p.engine_ids),
        run_to_failure=np.concatenate([p.run_to_failure for p in parts]),
        row_engine=np.concatenate([p.row_engine + o for p, o in zip(parts, offsets, strict=False)]),
        cycle=np.concatenate([p.cycle for p in parts]),
        signals=np.concatenate([p.signals for p in parts]),
        rul=np.concatenate([p.rul for p in parts]),
    )


def load_runs(data_dir: Path, subsets: tuple[str, ...] = PROTOCOL_SUBSETS) -> Runs:
    """Train and test files of the given subsets, together (FD001+FD003: 400 engines, 75,043 rows)."""
    return concat_runs(
        [load_split(data_dir, s, split) for s in subsets for split in ("train", "test")]
    )


def informative_columns(signals: FloatArray) -> list[int]:
    """Columns of `signals` that are not (quasi-)constant: no single value fills half the rows."""
    keep = []
    for j in range(signals.shape[1]):
        _, counts = np.unique(signals[:, j], return_counts=True)
        if counts.max() / len(signals) < QUASI_CONSTANT_MODE_SHARE:
            keep.append(j)
    return keep


def split_engines(n_engines: int, n_test: int, seed: int) -> tuple[IndexArray, IndexArray]:
    """Seeded random engine split: (train engine indices, test engine indices), each sorted."""
    if not 0 < n_test < n_engines:
        raise ValueError(f"n_test must be between 1 and {n_engines - 1}, got {n_test}")
    perm = np.random.default_rng(seed).permutation(n_engines)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


@dataclass(frozen=True)
class CheckResult:
    file: str
    status: str  # "ok", "absent", "error"
    detail: str


def check_data_dir(data_dir: Path) -> list[CheckResult]:
    """Validate every C-MAPSS file present against the known row and unit counts.

    FD001 and FD003 are required (the protocol and the game use them); FD002/FD004 may be absent.
    """
    results: list[CheckResult] = []
    for subset in SUBSETS:
        for split in ("train", "test"):
            stem = f"{split}_{subset}"
            try:
                runs = load_split(data_dir, subset, split)
            except DataError as exc:
                missing = str(exc).startswith("missing data file")
                if missing and subset not in PROTOCOL_SUBSETS:
                    results.append(
                        CheckResult(stem, "absent", "optional, not used by the protocol")
                    )
                else:
                    results.append(CheckResult(stem, "error", str(exc)))
                continue
            rows, units = KNOWN_COUNTS[stem]
            if (runs.n_rows, runs.n_engines) != (rows, units):
                results.append(
                    CheckResult(
                        stem,
                        "error",
                        f"{runs.n_rows} rows and {runs.n_engines} units; expected {rows} rows and {units} units",
                    )
                )
            else:
                extra = " (RUL file matches)" if split == "test" else ""
                results.append(CheckResult(stem, "ok", f"{rows} rows, {units} units{extra}"))
    return results

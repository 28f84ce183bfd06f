"""The game's factory models on the real data: every factory's local model, FedAvg over all 80
factories and a centralized reference, for both model families.

The fixtures are the real default models (seed 0): `window_models` (conftest.py, also the game's)
is the shipped set when it was made from this data, else trained once per session; the ff09 set
is trained once per session (~2 s).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from fl_engine.artifacts import ArtifactError
from fl_engine.data import Runs
from fl_engine.factory_models import (
    FAMILY_DEFAULTS,
    FactoryModels,
    FactoryModelsConfig,
    load_factory_models,
    save_factory_models,
    train_factory_models,
)
from fl_engine.features import ProtocolData
from fl_engine.federated import FederatedConfig, Federation
from fl_engine.local_training import NodeData
from fl_engine.metrics import late_life_rmse
from fl_engine.model import MLPConfig, init_params
from fl_engine.nodes import participant
from fl_engine.partition import iid
from fl_engine.threads import torch_threads

Events = list[tuple[str, int, int]]


@pytest.fixture(scope="session")
def ff09_trained(runs: Runs, training: Any) -> tuple[FactoryModels, Events]:
    events: Events = []
    models = training(
        "the ff09 factory models (seed 0)",
        lambda: train_factory_models(
            runs, FactoryModelsConfig(model="ff09"), lambda *e: events.append(e)
        ),
    )
    return models, events


@pytest.fixture(scope="session")
def ff09_models(ff09_trained: tuple[FactoryModels, Events]) -> FactoryModels:
    return ff09_trained[0]


@pytest.fixture(params=["ff09", "window"])
def models(request: pytest.FixtureRequest) -> FactoryModels:
    return request.getfixturevalue(f"{request.param}_models")


def test_each_family_has_its_defaults_and_bad_settings_are_refused() -> None:
    assert FactoryModelsConfig().model == "window"
    for family, defaults in FAMILY_DEFAULTS.items():
        cfg = FactoryModelsConfig(model=family)
        assert {k: getattr(cfg, k) for k in defaults} == defaults
    assert FactoryModelsConfig(model="ff09", rounds=3).rounds == 3
    with pytest.raises(ValidationError):
        FactoryModelsConfig(rounds=0)
    with pytest.raises(ValidationError):
        FactoryModelsConfig(model="lstm")
    with pytest.raises(ValidationError):
        FactoryModelsConfig(round=5)  # type: ignore[call-arg]


def test_factories_hold_the_protocol_engines(models: FactoryModels, protocol: ProtocolData) -> None:
    ids = protocol.runs.engine_ids
    assert models.test_engines == [ids[e] for e in protocol.test_engines]
    assert len(models.node_engines) == 80
    assert all(len(node) == 4 for node in models.node_engines)
    held = [e for node in models.node_engines for e in node]
    assert sorted(held) == sorted(ids[e] for e in protocol.train_engines)  # each exactly once
    assert not set(held) & set(models.test_engines)


def test_each_model_was_fed_exactly_its_rows(models: FactoryModels, protocol: ProtocolData) -> None:
    """From the rows the minibatches drew: factory i's local model saw its own 4 engines, every
    row of them and nothing else; federated saw every factory's rows; nothing saw a test engine."""
    runs, trained = protocol.runs, models.metrics["trained_on"]
    counts = models.metrics["trained_row_counts"]
    index = {e: i for i, e in enumerate(runs.engine_ids)}
    rows = {e: len(protocol.engine_rows[index[e]]) for e in runs.engine_ids}
    for node, engines in enumerate(models.node_engines):
        assert sorted(trained["local"][node]) == sorted(engines)
        assert counts["local"][node] == sum(rows[e] for e in engines)
    every = sorted(e for node in models.node_engines for e in node)
    for pooled in ("federated", "centralized"):
        assert sorted(trained[pooled]) == every
        assert counts[pooled] == sum(rows[e] for e in every)
        assert not set(trained[pooled]) & set(models.test_engines)


def test_ff09_federated_is_the_engines_fedavg_over_all_80_nodes(
    ff09_models: FactoryModels, protocol: ProtocolData
) -> None:
    """The ff09 family's federated model is exactly what `Federation` (FF09's federated engine)
    gives with every node participating, from the same initial weights and minibatch draws."""
    cfg = ff09_models.config
    partition = iid(
        protocol.train_engines, protocol.engine_groups(), 80, np.random.default_rng(cfg.seed)
    )
    nodes = NodeData.from_rows(protocol.x, protocol.y, [protocol.rows_of(p) for p in partition])
    mlp = MLPConfig()
    federation = Federation(
        nodes,
        [participant] * 80,
        init_params(mlp, cfg.seed),
        FederatedConfig(track_losses=False),
        mlp,
        seed=cfg.seed + 2,  # the factory models' federated draws
    )
    with torch_threads(1):  # as the factory models were trained (many small steps)
        for _ in range(cfg.rounds):
            federation.run_round()
    torch.testing.assert_close(ff09_models.params["federated"], federation.global_params)


def test_the_reference_loop_trains_the_same_factory_models(runs: Runs) -> None:
    """One round of everything with the per-node loop (plain modules, torch.optim.Adam) gives the
    vectorized trainer's models: centralized, federated and all 80 local ones."""
    cfg = FactoryModelsConfig(model="window", rounds=1, centralized_epochs=1)
    vectorized = train_factory_models(runs, cfg)
    loop = train_factory_models(runs, cfg.model_copy(update={"trainer": "loop"}))
    # The pooled model takes ~117 Adam steps of batch 512 in this one epoch: float sums taken in
    # another order differ by ~1e-7 a step, and Adam's division by sqrt(v) lifts that to ~7e-4 on
    # some CPUs (AVX2 kernels); nodes take ~6 steps each and agree to ~1e-4 (the federated
    # average to ~1e-6).
    tolerance = {"centralized": 2e-3, "federated": 1e-5, "local": 3e-4}
    for name in ("centralized", "federated", "local"):
        torch.testing.assert_close(
            loop.params[name], vectorized.params[name], atol=tolerance[name], rtol=1e-4
        )


def test_predictions_are_the_scored_ones(models: FactoryModels, runs: Runs) -> None:
    preds = models.predict(runs, models.test_engines)
    index = {e: i for i, e in enumerate(runs.engine_ids)}
    engine_rows = runs.engine_rows()
    true = np.concatenate([runs.rul[engine_rows[index[p.engine_id]]] for p in preds])
    for p in preds:
        cycles = len(engine_rows[index[p.engine_id]])
        assert p.centralized.shape == p.federated.shape == (cycles,)
        assert p.local.shape == (80, cycles)
        assert min(p.federated.min(), p.local.min(), p.centralized.min()) >= 0.0
    federated = np.concatenate([p.federated for p in preds])
    local = np.concatenate([p.local for p in preds], axis=1)
    late = models.metrics["late_life_rmse"]
    assert late_life_rmse(federated, true) == pytest.approx(late["federated"], abs=1e-4)
    assert [late_life_rmse(row, true) for row in local] == pytest.approx(late["local"], abs=1e-4)
    with pytest.raises(ValueError, match="not in the data"):
        models.predict(runs, ["FD009-train-1"])


def test_the_window_model_is_right_late_in_life(
    window_models: FactoryModels, ff09_models: FactoryModels
) -> None:
    """Issue 9: late in life (true RUL <= 50), where maintenance is decided, the window model's
    federated RMSE is well below FF09's and below that of at least 90% of the factories' own."""
    window, ff09 = window_models.metrics, ff09_models.metrics
    assert window["late_life_rmse"]["federated"] < 0.7 * ff09["late_life_rmse"]["federated"]
    assert window["federated_beats_local_late_life"] >= 0.9
    local = np.asarray(window["late_life_rmse"]["local"])
    assert np.mean(local > window["late_life_rmse"]["federated"]) >= 0.9
    assert window["late_life_rmse"]["centralized"] < window["late_life_rmse"]["federated"]
    curve = window["federated_late_life_curve"]
    assert len(curve) == window_models.config.rounds and curve[-1] < curve[0]


def test_window_predictions_move_smoothly_from_cycle_to_cycle(
    window_models: FactoryModels, ff09_models: FactoryModels, runs: Runs
) -> None:
    """FF09's single-step model jumps with the sensor noise; the window model reads a trend."""

    def late_jumps(models: FactoryModels) -> float:
        index = {e: i for i, e in enumerate(runs.engine_ids)}
        engine_rows = runs.engine_rows()
        steps = []
        for p in models.predict(runs, models.test_engines):
            rul = runs.rul[engine_rows[index[p.engine_id]]]
            steps.append(np.abs(np.diff(p.federated))[rul[1:] <= 50])
        return float(np.mean(np.concatenate(steps)))

    assert late_jumps(window_models) < 0.5 * late_jumps(ff09_models)


def test_progress_is_told_every_round(ff09_trained: tuple[FactoryModels, Events]) -> None:
    models, events = ff09_trained
    rounds = models.config.rounds
    for stage in ("centralized", "federated", "local"):
        told = [(done, total) for s, done, total in events if s == stage]
        assert told == [(r, rounds) for r in range(rounds + 1)]


def test_too_many_factories_are_refused(runs: Runs) -> None:
    with pytest.raises(ValueError, match="n_nodes=321"):
        train_factory_models(runs, FactoryModelsConfig(model="ff09", n_nodes=321, rounds=1))


def test_saved_models_load_with_the_same_predictions(
    models: FactoryModels, runs: Runs, tmp_path: Path
) -> None:
    save_factory_models(models, tmp_path)
    loaded = load_factory_models(tmp_path)
    assert loaded.config == models.config
    assert loaded.node_engines == models.node_engines
    assert loaded.test_engines == models.test_engines
    assert loaded.metrics == json.loads(json.dumps(models.metrics))
    engines = models.test_engines[:5]
    for a, b in zip(models.predict(runs, engines), loaded.predict(runs, engines), strict=True):
        assert np.array_equal(a.federated, b.federated)
        assert np.array_equal(a.centralized, b.centralized)
        assert np.array_equal(a.local, b.local)


def test_damaged_or_mismatched_files_get_a_clear_error(
    window_models: FactoryModels, ff09_models: FactoryModels, tmp_path: Path
) -> None:
    good, other = tmp_path / "good", tmp_path / "ff09"
    save_factory_models(window_models, good)
    save_factory_models(ff09_models, other)

    def broken(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(good, target)
        return target

    with pytest.raises(ArtifactError, match=r"factory_models\.json is missing"):
        load_factory_models(tmp_path / "empty")
    d = broken("no-weights")
    (d / "factory_models.safetensors").unlink()
    with pytest.raises(ArtifactError, match=r"factory_models\.safetensors are missing"):
        load_factory_models(d)
    d = broken("truncated")
    weights = d / "factory_models.safetensors"
    weights.write_bytes(weights.read_bytes()[:500])
    with pytest.raises(ArtifactError, match=r"safetensors is damaged"):
        load_factory_models(d)
    d = broken("garbled-json")
    (d / "factory_models.json").write_text("{not json")
    with pytest.raises(ArtifactError, match=r"factory_models\.json is damaged"):
        load_factory_models(d)
    d = broken("old-json")
    doc = json.loads((d / "factory_models.json").read_text())
    doc["format"] = "turbofan-tycoon/factory-models/0"
    (d / "factory_models.json").write_text(json.dumps(doc))
    with pytest.raises(ArtifactError, match="another version"):
        load_factory_models(d)
    d = broken("mixed")  # the ff09 weights beside the window settings
    shutil.copy(other / "factory_models.safetensors", d / "factory_models.safetensors")
    with pytest.raises(ArtifactError, match=r"does not match.*holds ff09 weights, not window"):
        load_factory_models(d)
    d = broken("fewer-factories")  # settings for 40 factories, weights of 80
    doc = json.loads((d / "factory_models.json").read_text())
    doc["config"]["n_nodes"], doc["node_engines"] = 40, doc["node_engines"][:40]
    for measure in ("rmse", "late_life_rmse", "capped_rmse"):  # a JSON file consistent in itself
        doc["metrics"][measure]["local"] = doc["metrics"][measure]["local"][:40]
    doc["metrics"]["calibration"]["local"] = doc["metrics"]["calibration"]["local"][:40]
    (d / "factory_models.json").write_text(json.dumps(doc))
    with pytest.raises(ArtifactError, match=r"does not match.*local.*shape"):
        load_factory_models(d)


def _mutate(doc: dict[str, Any], path: str, value: Any) -> None:
    """Set doc[a][b][c] = value for path "a.b.c" (integers index lists)."""
    *parents, last = path.split(".")
    node: Any = doc
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[int(last) if isinstance(node, list) else last] = value


_DELETE = object()
Damage = Callable[[dict[str, Any]], Any]


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        # wrong types
        (
            lambda d: _mutate(d, "metrics.rmse.local.3", "12.5"),
            r"metrics\.rmse\.local\.3: .*number",
        ),
        (lambda d: _mutate(d, "node_engines.0.0", 17), r"node_engines\.0\.0: .*string"),
        (lambda d: _mutate(d, "config.n_nodes", "eighty"), r"config\.n_nodes: .*integer"),
        (lambda d: _mutate(d, "target.cap", [125]), r"target\.cap"),
        # missing keys
        (
            lambda d: _mutate(d, "metrics.late_life_rmse", _DELETE),
            r"late_life_rmse: Field required",
        ),
        (lambda d: _mutate(d, "features", _DELETE), r"features: Field required"),
        (lambda d: _mutate(d, "metrics.family", _DELETE), r"metrics\.family: Field required"),
        # metrics of the wrong shape
        (lambda d: _mutate(d, "metrics.rmse", [1.0, 2.0]), r"metrics\.rmse: .*dictionary"),
        (lambda d: _mutate(d, "metrics.federated_curve", {"1": 2.0}), r"federated_curve: .*list"),
        (lambda d: _mutate(d, "metrics.model", "window"), r"metrics\.model: .*dictionary"),
        (lambda d: _mutate(d, "metrics.model.filters", "four"), r"damaged"),
        (lambda d: _mutate(d, "metrics.model.kernel", 3), r"kernel"),
        # lists of the wrong length
        (lambda d: d["metrics"]["late_life_rmse"]["local"].pop(), r"late_life_rmse\.local has 79"),
        (lambda d: d["features"]["mean"].pop(), r"bad feature list"),
        (lambda d: d["node_engines"].pop(), r"79 factories' engines for 80"),
        (lambda d: _mutate(d, "test_engines", []), r"test_engines: .*at least 1"),
        # not even an object
        (lambda d: d.clear() or d.update({"format": "x"}), r"format 'x'"),
    ],
)
def test_a_json_file_with_wrong_contents_is_one_clear_line(
    window_models: FactoryModels, tmp_path: Path, damage: Damage, expected: str
) -> None:
    """Issue 10: wrong types, missing keys, metrics of the wrong shape and lists of the wrong
    length in factory_models.json are each one `ArtifactError` line naming the file."""
    save_factory_models(window_models, tmp_path)
    path = tmp_path / "factory_models.json"
    doc = json.loads(path.read_text())
    damage(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(ArtifactError, match=expected) as caught:
        load_factory_models(tmp_path)
    message = str(caught.value)
    assert str(path) in message and "damaged or from another version" in message
    assert "\n" not in message


def test_a_json_list_or_number_is_refused_with_a_clear_line(tmp_path: Path) -> None:
    for text in ("[1, 2, 3]", "42", "null"):
        (tmp_path / "factory_models.json").write_text(text)
        with pytest.raises(ArtifactError, match=r"factory_models\.json is damaged.*not an object"):
            load_factory_models(tmp_path)

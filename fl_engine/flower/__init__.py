"""The project's federation as a Flower App (issue 13): ClientApp, ServerApp and strategy on the
project's own data preparation, trainer and aggregation rules, run on Flower's simulation runtime
(`simulation.py`) or deployment runtime (`deployment.py`).

The only package that imports flwr; importing this package itself does not, so `spec` works
without Flower installed.
"""

"""The game: pure, seeded rules with no I/O (no web, no engine, no files).

Everything here is a function of a state, the engine pool and `GameSettings`; the engine's
predictions reach it as plain arrays in `EngineTrace`s, built by `app.bridge`.
"""

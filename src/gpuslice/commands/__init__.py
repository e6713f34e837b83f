"""CLI verbs, one module per concern; each exposes ``register(app)``."""

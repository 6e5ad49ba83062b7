"""The network from scratch: layers, features extractors, action distributions and gSDE, each forward with its
hand-written backward beside it. Imports NumPy and gymnasium.spaces only (tests/test_layering.py says so)."""

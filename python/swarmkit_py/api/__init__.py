"""The Engine-API-compatible HTTP API of a swarmkit-py node, and its client."""

"""Command-line tools: `swarmctl` (docker's `swarm` and `node` commands against
a node's API)."""

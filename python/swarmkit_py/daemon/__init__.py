"""swarmd: one swarmkit-py node (outside a swarm, worker, or manager)."""

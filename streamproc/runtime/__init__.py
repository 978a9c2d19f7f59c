"""The runtime: worker poll loop, tasks, checkpoints, error policy and the supervisor."""

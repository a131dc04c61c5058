"""One module per task; each registers itself with `simreal.sim.registry.register_task`."""

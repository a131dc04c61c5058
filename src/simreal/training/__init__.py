"""Pieces of the training loop: config, data loading, optimisation (AdamW, cosine schedule, EMA),
checkpoints in LeRobot's layout, and logging. `simreal.train` composes them."""

"""Tuning the default model on the job: verified trajectories (`dataset`), LoRA training (`model`), and base
vs tuned on held-out suites (`evaluator`)."""

"""Training: labelled snapshots, LightGBM and baselines, evaluation, MLflow registry."""

"""Fleet telemetry at the hub: the sites' metric batches, kept outside the revisioned store."""

"""One folder per metric. Each metric is a few named steps and returns numbers, never NaN."""

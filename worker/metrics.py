"""Worker-side Prometheus metrics (aggregated across processes via PROMETHEUS_MULTIPROC_DIR)."""

from prometheus_client import Counter, Histogram

UNITS_GENERATED = Counter(
    "synthtiles_units_generated_total",
    "Generation units produced by the diffusion sampler",
    ["world"],
)
GENERATION_SECONDS = Histogram(
    "synthtiles_generation_seconds",
    "Wall time of one generation batch (conditioning, sampling, encoding, storing)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 21, 34, 60, 120),
)
BATCH_SIZE = Histogram(
    "synthtiles_batch_size", "Units per generation batch", buckets=(1, 2, 4, 8, 16, 32, 64, 128)
)
JOBS_RECLAIMED = Counter(
    "synthtiles_jobs_reclaimed_total", "Jobs taken over from a worker that stopped answering"
)
JOBS_RETRIED = Counter("synthtiles_jobs_retried_total", "Jobs re-queued after a failed attempt")
JOBS_DROPPED = Counter(
    "synthtiles_jobs_dropped_total",
    "Interactive jobs dropped unmade: nobody waited for them and the queue was deep",
)
JOBS_DEAD_LETTERED = Counter(
    "synthtiles_jobs_dead_lettered_total", "Jobs moved to the dead-letter stream"
)

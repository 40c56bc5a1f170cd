"""`synthtiles eval ...`: the world contract (world), realism against held-out imagery
(model) and mosaics for looking at (mosaics)."""

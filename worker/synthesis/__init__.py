"""The synthesis library: a unit's request (engine), its generators (one per model kind),
the renderers that draw a world plan from a model's textures, and the producer that turns
a unit into stored tiles. Used by the worker process and by the evaluation commands."""

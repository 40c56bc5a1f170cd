from core.determinism import pin_cpu_kernels

pin_cpu_kernels()  # before any torch operation: tiles' bytes must not depend on the CPU

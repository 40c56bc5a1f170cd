"""Torch's CPU kernels pinned to one instruction set, so a tile's bytes do not depend on
the machine that drew it.

PyTorch picks its CPU kernels (ATen's vectorised ops, oneDNN's convolutions) by what the
processor offers: on an AVX-512 machine they sum in a different order than on an AVX2
one, and a model's output differs in the last bits, which changes published PNG bytes.
Published tiles never change, so every process that runs a model asks for the AVX2 kernels
(the level the published tiles were drawn with; a CPU without AVX2 falls back further and
is not byte-compatible). An operator may override both variables, knowing that tiles then
may differ from the published ones.

This must run before torch executes its first operation; `worker` and `model_store` call it
when they are imported, which is before either loads torch. Importing this module loads no
torch.
"""

from __future__ import annotations

import os

CPU_KERNEL_ISA = {
    "ATEN_CPU_CAPABILITY": "avx2",  # ATen's dispatch: default | avx2 | avx512
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN (convolutions)
}


def pin_cpu_kernels() -> None:
    for name, value in CPU_KERNEL_ISA.items():
        os.environ.setdefault(name, value)

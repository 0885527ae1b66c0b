"""What a measurement ran on, written beside every benchmark figure: the same code measured 2x apart on
an AMD EPYC and an Intel Xeon, so a number without its CPU model and torch's kernel level means little."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """``model name`` of /proc/cpuinfo (what ``lscpu`` prints as Model name), else the platform's word."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def describe_machine() -> dict[str, object]:
    """CPU model, cores, and what torch runs on it: version, CPU kernel level (AVX2, AVX512, ...), threads."""
    import torch

    return {
        "cpu_model": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def machine_line(machine: dict[str, object]) -> str:
    """One line for a benchmark's printed table."""
    return (
        f"machine: {machine['cpu_model']}, {machine['cpu_cores']} cores, torch {machine['torch']} "
        f"({machine['torch_cpu_capability']} kernels, {machine['torch_threads']} thread(s))"
        + (f", {machine['cuda_device']}" if machine["cuda_device"] else "")
    )

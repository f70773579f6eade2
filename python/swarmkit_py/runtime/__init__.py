"""Task runtimes: what runs a task's `ContainerSpec` on a node."""

from .base import DEFAULT_STOP_GRACE, Runtime, RuntimeHandle, TaskError, stop_grace, task_dir
from .process import ProcessHandle, ProcessRuntime
from .simulated import SimulatedHandle, SimulatedRuntime

__all__ = [
    "DEFAULT_STOP_GRACE",
    "ProcessHandle",
    "ProcessRuntime",
    "Runtime",
    "RuntimeHandle",
    "SimulatedHandle",
    "SimulatedRuntime",
    "TaskError",
    "stop_grace",
    "task_dir",
]

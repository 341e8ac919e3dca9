"""Sandboxes: bubblewrap by default, Docker where a daemon answers."""

from proctor.sandbox._base import (
    ExecResult,
    Limits,
    Sandbox,
    SandboxError,
    backend_of,
    get_sandbox,
    sandbox_backend,
    sandbox_backends,
)
from proctor.sandbox._bwrap import BwrapSandbox, clean_leftovers  # importing registers the "bwrap" backend
from proctor.sandbox._copy import copy_in, folder_entries, pack
from proctor.sandbox._disk import open_workspace, remove_workspace
from proctor.sandbox._docker import DockerSandbox  # importing registers the "docker" backend

__all__ = [
    "BwrapSandbox",
    "DockerSandbox",
    "ExecResult",
    "Limits",
    "Sandbox",
    "SandboxError",
    "backend_of",
    "clean_leftovers",
    "copy_in",
    "folder_entries",
    "get_sandbox",
    "open_workspace",
    "pack",
    "remove_workspace",
    "sandbox_backend",
    "sandbox_backends",
]

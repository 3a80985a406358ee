"""The actors (registry, windows, source readers, supervisor) and the system that runs them."""

from patches.actors.system import PatchesSystem, StartupError, SystemStatus, new_session_id

__all__ = ["PatchesSystem", "StartupError", "SystemStatus", "new_session_id"]

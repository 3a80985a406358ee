"""The durable state (SQLite): what a restarted server needs to go on where it stopped."""

from patches.state.store import SavedSession, Snapshot, StateStore, open_store

__all__ = ["SavedSession", "Snapshot", "StateStore", "open_store"]

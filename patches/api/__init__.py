"""The HTTP layer: thin Falcon resources that turn requests into calls on the actor system."""

from patches.api.app import create_app

__all__ = ["create_app"]

"""Configuration: typed sections from the embedded defaults, a TOML file and the environment."""

from patches.config.loader import ConfigError, default_config_text, load_config
from patches.config.model import (
    Config,
    LoggingConfig,
    MemoryConfig,
    ServerConfig,
    SessionsConfig,
    SourceConfig,
    StateConfig,
    WindowConfig,
)
from patches.config.schema import ByteSize, parse_size

__all__ = [
    "ByteSize",
    "Config",
    "ConfigError",
    "LoggingConfig",
    "MemoryConfig",
    "ServerConfig",
    "SessionsConfig",
    "SourceConfig",
    "StateConfig",
    "WindowConfig",
    "default_config_text",
    "load_config",
    "parse_size",
]

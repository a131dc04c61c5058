"""simreal: from demonstrations to a deployed policy."""

__version__ = "0.1.0"

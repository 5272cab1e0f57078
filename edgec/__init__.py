"""edgec: an edge deployment compiler for distilled student models."""

__version__ = "0.1.0"

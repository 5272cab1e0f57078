"""edgec.compile: export, graph passes, parity, quantization."""

# The export section's models build on edgec.config; importing it first keeps either import
# order (edgec.config or edgec.compile.config first) free of a circular-import failure.
import edgec.config  # noqa: F401

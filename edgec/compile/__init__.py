"""edgec.compile: export, graph passes, parity, quantization."""

"""edgec.benchmarks"""

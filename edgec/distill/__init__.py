"""edgec.distill: teacher -> student, with a soft-label cache, fidelity report and provenance.

`run_distill(config, out_dir, log)` trains and writes `OUT/student/`; `load_student(folder)`
rebuilds the module from that folder. Both are imported lazily so `import edgec.distill` stays
cheap for the config loader.
"""

__all__ = ["DistillResult", "load_student", "run_distill"]


def __getattr__(name: str):
    if name in __all__:
        from edgec.distill import run

        return getattr(run, name)
    raise AttributeError(f"module 'edgec.distill' has no attribute {name!r}")

"""The `gates:` section of edgec.yaml: per-target budgets for `edgec gate`.

```yaml
gates:
  alpha: 0.001                 # significance level of the slowdown test
  default:                     # every target
    max_slowdown_pct: 10       # built in; null switches it off
  targets:
    host-cpu:
      max_p90_ms: 2.0
      max_model_size_mb: 1.0
      min_accuracy: 90         # the quality metric, percent
      max_accuracy_drop: 0.5   # points against the baseline
```

No edgec import here: `edgec.config.Config` includes these models, so they must not import it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

BUILT_IN_BUDGETS = {"max_slowdown_pct": 10.0}


class _Strict(BaseModel):
    # Same rules as edgec.config.StrictModel (a typo'd key is an error), defined here to avoid
    # a circular import.
    model_config = ConfigDict(extra="forbid", frozen=True)


class TargetBudgets(_Strict):
    """One target's budgets. Absolute budgets need only the current build; relative budgets
    compare it with the baseline. Unset (null) means not checked."""

    max_p50_ms: float | None = Field(None, gt=0, description="median latency, ms")
    max_p90_ms: float | None = Field(None, gt=0, description="90th-percentile latency, ms")
    max_peak_memory_mb: float | None = Field(None, gt=0, description="peak RSS of the benchmark process, MB")
    max_model_size_mb: float | None = Field(None, gt=0, description="engine files of the bundle, MB")
    min_accuracy: float | None = Field(None, description="the quality metric of the built engine, percent")
    min_fidelity: float | None = Field(None, ge=0, le=1, description="top-1 agreement with the float model")
    max_slowdown_pct: float | None = Field(None, ge=0, description="median latency vs baseline, percent")
    max_accuracy_drop: float | None = Field(None, ge=0, description="points of the quality metric vs baseline")


class GatesConfig(_Strict):
    """The `gates:` section of edgec.yaml."""

    alpha: float = Field(0.001, gt=0, lt=0.5, description="significance level of the slowdown test")
    default: TargetBudgets = TargetBudgets()
    targets: dict[str, TargetBudgets] = Field(default_factory=dict)

    def budgets_for(self, target: str) -> TargetBudgets:
        """Built-in defaults, overridden by `default:`, overridden by the target's own entry; a key
        set explicitly to null switches that budget off."""
        merged: dict[str, Any] = dict(BUILT_IN_BUDGETS)
        for layer in (self.default, self.targets.get(target)):
            if layer is not None:
                merged.update({key: getattr(layer, key) for key in layer.model_fields_set})
        return TargetBudgets(**merged)

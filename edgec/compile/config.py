"""The `export:` section of edgec.yaml: where the student comes from and how it becomes ONNX.

Either a PyTorch module the user names (`module: "pkg.mod:attr"`, built with `kwargs`, its
weights read from a `.safetensors` file, never a pickle) or a Hugging Face model folder
(`hf_model:`, exported by optimum's task-aware exporter).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationInfo, model_validator

from edgec.schema import InputFile, InputFolder, StrictModel

DTYPES = ("float32", "float16", "int64", "int32", "bool")
MIN_OPSET, MAX_OPSET, DEFAULT_OPSET = 13, 23, 20


class DynamicDim(StrictModel):
    """One dimension that varies at run time, with the range the engine must accept."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    min: int = Field(1, ge=1)
    max: int = Field(1024, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> DynamicDim:
        if self.min > self.max:
            raise ValueError(f"dynamic dim '{self.name}': min {self.min} is above max {self.max}")
        return self


class ExportInput(StrictModel):
    """A graph input: its name, an example shape, dtype, value range and its dynamic dims."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.:-]*$")
    shape: list[int] = Field(description="example shape; dynamic axes may hold any size in their range")
    dtype: Literal[DTYPES] = "float32"  # type: ignore[valid-type]
    range: tuple[float, float] | None = Field(
        None, description="[low, high) of random samples (integers: token ids, class ids); floats default N(0,1)"
    )
    dynamic: dict[int, DynamicDim] = Field({}, description="axis -> {name, min, max}")

    @model_validator(mode="after")
    def _axes_exist(self) -> ExportInput:
        for axis, dim in self.dynamic.items():
            if not 0 <= axis < len(self.shape):
                raise ValueError(f"input '{self.name}': dynamic axis {axis} is not an axis of shape {self.shape}")
            if not dim.min <= self.shape[axis] <= dim.max:
                raise ValueError(
                    f"input '{self.name}': example size {self.shape[axis]} of axis {axis} is outside "
                    f"{dim.name}'s range [{dim.min}, {dim.max}]"
                )
        return self


class PassesConfig(StrictModel):
    """Graph passes run after export (and on a bring-your-own ONNX)."""

    simplify: bool = Field(True, description="constant folding and simplification (onnxslim)")
    fp16: bool = Field(False, description="convert float weights and compute to float16, I/O stays float32")
    fp16_op_block_list: list[str] = Field([], description="op types kept in float32 (added to ORT's defaults)")
    fp16_node_block_list: list[str] = Field([], description="node names kept in float32")


class Tolerance(StrictModel):
    atol: float = Field(ge=0)
    rtol: float = Field(ge=0)
    min_cosine: float = Field(ge=-1, le=1)


DEFAULT_TOLERANCES = {
    "fp32": Tolerance(atol=1e-4, rtol=1e-3, min_cosine=0.9999),
    "fp16": Tolerance(atol=2e-2, rtol=2e-2, min_cosine=0.999),
}


class ParityConfig(StrictModel):
    """ONNX Runtime vs PyTorch: on real samples (this file, else calibration data) and random ones."""

    data: InputFile | None = Field(None, description=".npz keyed by input name; default: calibration data")
    samples: int = Field(8, ge=0, le=10_000, description="real samples compared")
    random: int = Field(4, ge=0, le=1_000, description="random batches compared (dynamic dims varied)")
    seed: int = 0
    tolerances: dict[Literal["fp32", "fp16"], Tolerance] = {}

    def tolerance(self, precision: str) -> Tolerance:
        return self.tolerances.get(precision, DEFAULT_TOLERANCES[precision])  # type: ignore[index]


class ExportConfig(StrictModel):
    module: str | None = Field(
        None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$", description="'pkg.mod:attr', a class or factory"
    )
    kwargs: dict[str, Any] = Field({}, description="keyword arguments for the module's constructor")
    weights: InputFile | None = Field(None, description=".safetensors state dict (strict load)")
    hf_model: InputFolder | None = Field(None, description="Hugging Face model folder (config.json + weights)")
    task: str = Field("feature-extraction", description="optimum task for hf_model, e.g. text-classification")
    inputs: list[ExportInput] = []
    outputs: list[str] = Field([], description="output names, in the module's output order")
    opset: int = Field(DEFAULT_OPSET, ge=MIN_OPSET, le=MAX_OPSET)
    target_opsets: dict[str, int] = Field({}, description="target name -> opset, where a target needs another")
    exporter: Literal["dynamo", "torchscript", "auto"] = "dynamo"
    external_data: bool = Field(False, description="weights in model.onnx.data (forced above 2 GB)")
    passes: PassesConfig = PassesConfig()
    parity: ParityConfig = ParityConfig()
    # The config file's folder: `module:` is imported from there first (like a script next to it).
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    @model_validator(mode="after")
    def _one_source(self, info: ValidationInfo) -> ExportConfig:
        self._base_dir = Path((info.context or {}).get("base_dir", ".")).resolve()
        if (self.module is None) == (self.hf_model is None):
            raise ValueError("export: give exactly one of 'module' (a PyTorch nn.Module) or 'hf_model' (a folder)")
        if self.module is not None:
            if not self.inputs:
                raise ValueError("export.inputs: a module export needs its inputs (name, shape, dtype, dynamic)")
            names = [i.name for i in self.inputs]
            if len(set(names)) != len(names):
                raise ValueError(f"export.inputs: duplicate input names {names}")
        else:
            if self.weights is not None or self.kwargs or self.inputs:
                raise ValueError("export: 'weights', 'kwargs' and 'inputs' belong to 'module'; hf_model has its own")
        for target, opset in self.target_opsets.items():
            if not MIN_OPSET <= opset <= MAX_OPSET:
                raise ValueError(f"export.target_opsets.{target}: opset {opset} is outside [{MIN_OPSET}, {MAX_OPSET}]")
        return self

    def opset_for(self, target: str) -> int:
        return self.target_opsets.get(target, self.opset)

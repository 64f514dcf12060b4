"""TFLite runtimes behind one small interface.

Three packages can run a ``.tflite`` file: ``ai_edge_litert`` (current, fastest int8
kernels), ``tflite_runtime`` (what many Pi guides install; needs numpy<2) and full
``tensorflow.lite``. They share the Interpreter API, so one adapter serves all; the
loader picks the first importable one unless a name is given.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from device.shared.errors import UserError

#: Runtime name -> (module, attribute path of ``Interpreter``); tried in this order.
RUNTIMES: dict[str, tuple[str, str]] = {
    "ai_edge_litert": ("ai_edge_litert.interpreter", "Interpreter"),
    "tflite_runtime": ("tflite_runtime.interpreter", "Interpreter"),
    "tensorflow": ("tensorflow", "lite.Interpreter"),  # tf.lite is lazily loaded
}


def _load_interpreter(name: str) -> Callable[..., Any]:
    module_name, attr_path = RUNTIMES[name]
    obj: Any = importlib.import_module(module_name)
    for attr in attr_path.split("."):
        try:
            obj = getattr(obj, attr)
        except AttributeError as exc:
            raise ImportError(f"{module_name} has no {attr_path}") from exc
    return obj


class ModelLoadError(UserError):
    """No runtime available, or the file is not a model this code can run."""


@dataclass(frozen=True)
class Quantization:
    """Affine int8/uint8 quantization of one tensor: real = scale * (q - zero_point)."""

    scale: float
    zero_point: int
    dtype: np.dtype

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0 and np.issubdtype(self.dtype, np.integer)

    def quantize(self, real: np.ndarray) -> np.ndarray:
        if not self.quantized:
            return real.astype(self.dtype)
        info = np.iinfo(self.dtype)
        q = np.round(real / self.scale) + self.zero_point
        return np.clip(q, info.min, info.max).astype(self.dtype)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        if not self.quantized:
            return q.astype(np.float32)
        return (self.scale * (q.astype(np.float32) - self.zero_point)).astype(np.float32)


def available_runtimes() -> list[str]:
    found = []
    for name in RUNTIMES:
        try:
            _load_interpreter(name)
        except ImportError:
            continue
        found.append(name)
    return found


def _interpreter_class(prefer: str | None) -> tuple[str, Callable[..., Any]]:
    names = [prefer] if prefer else list(RUNTIMES)
    errors = []
    for name in names:
        if name not in RUNTIMES:
            raise ModelLoadError(f"unknown TFLite runtime {name!r} (known: {', '.join(RUNTIMES)})")
        try:
            return name, _load_interpreter(name)
        except ImportError as exc:
            errors.append(f"{name}: {exc}")
    raise ModelLoadError(
        "no TFLite runtime could be imported ("
        + "; ".join(errors)
        + "); install one: pip install 'moodspeaker[device]' or 'moodspeaker[tflite-runtime]'"
    )


def _quantization(detail: dict[str, Any]) -> Quantization:
    """A tensor's quantization from the interpreter's details of it."""
    scale, zero_point = detail["quantization"]
    return Quantization(scale, zero_point, np.dtype(detail["dtype"]))


class TFLiteModel:
    """One-input, one-output TFLite model with real-valued input and output."""

    def __init__(self, path: str | Path, threads: int = 1, runtime: str | None = None):
        self.path = Path(path)
        self.runtime, interpreter_cls = _interpreter_class(runtime)
        try:
            self._interp = interpreter_cls(model_path=str(self.path), num_threads=threads)
            self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"{self.path}: not a usable TFLite model: {exc}") from None
        inputs, outputs = self._interp.get_input_details(), self._interp.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelLoadError(
                f"{self.path}: expected one input and one output, "
                f"found {len(inputs)} and {len(outputs)}"
            )
        self._in, self._out = inputs[0], outputs[0]
        self.input_shape = tuple(int(v) for v in self._in["shape"])
        self.output_shape = tuple(int(v) for v in self._out["shape"])
        self.input_quant = _quantization(self._in)
        self.output_quant = _quantization(self._out)

    def run(self, real_input: np.ndarray) -> np.ndarray:
        """Quantize a real-valued input with the tensor's own parameters, run, dequantize."""
        self._interp.set_tensor(self._in["index"], self.input_quant.quantize(real_input))
        self._interp.invoke()
        return self.output_quant.dequantize(self._interp.get_tensor(self._out["index"]))

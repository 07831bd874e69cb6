"""Peak bytes of live CPU tensors during a block of code, counted exactly (not RSS, which the
allocator and other processes blur): every tensor an operator returns is recorded with its
storage, and a storage counts from its first tensor until its last one is gone."""

from __future__ import annotations

import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


class LiveTensorBytes(TorchDispatchMode):
    """``with LiveTensorBytes() as m: ...`` then ``m.peak`` (bytes). Tensors made before the block
    (model weights, inputs) are not counted."""

    def __init__(self):
        super().__init__()
        self.refs: dict[int, int] = {}
        self.sizes: dict[int, int] = {}
        self._watch: dict = {}  # id(weakref) -> weakref: the weak references must outlive their tensors
        self.current = 0
        self.peak = 0

    def _release(self, key: int, ref) -> None:
        self._watch.pop(id(ref), None)
        self.refs[key] -= 1
        if self.refs[key] == 0:
            del self.refs[key]
            self.current -= self.sizes.pop(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in tree_leaves(out):
            if not isinstance(tensor, torch.Tensor) or tensor.device.type != "cpu":
                continue
            storage = tensor.untyped_storage()
            key = storage.data_ptr()
            if key == 0:
                continue
            if key not in self.refs:
                self.refs[key], self.sizes[key] = 0, storage.nbytes()
                self.current += storage.nbytes()
                self.peak = max(self.peak, self.current)
            self.refs[key] += 1
            ref = weakref.ref(tensor, lambda ref, key=key: self._release(key, ref))
            self._watch[id(ref)] = ref
        return out

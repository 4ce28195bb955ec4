"""Sequence splits as ``torch.utils.data.Dataset``: items and batches are dicts of tensors."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from ..data import SequenceData

KEYS = ("x", "y", "timespans", "lengths")


class SequenceDataset(Dataset):
    """A :class:`~liquidtorch.data.SequenceData` split, one sequence per item.

    An item is ``{"x": (time, features), "y": target, "timespans": (time,),
    "lengths": ()}``, the last two only when the split has them. :func:`collate_sequences`
    stacks items into a batch of the same keys with a leading batch dimension.

    >>> ds = SequenceDataset(SequenceData(torch.zeros(5, 7, 3), torch.zeros(5, dtype=torch.long)))
    >>> sorted(ds[0]), ds[0]["x"].shape
    (['x', 'y'], torch.Size([7, 3]))
    """

    def __init__(self, data: SequenceData):
        if not isinstance(data, SequenceData):
            raise TypeError(f"expected a SequenceData, got {type(data).__name__}")
        self.data = data
        self._fields = {k: getattr(data, k) for k in KEYS if getattr(data, k) is not None}

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self._fields.items()}

    def batch(self, index: torch.Tensor | list[int]) -> dict[str, torch.Tensor]:
        """The items at ``index`` already collated (one indexing per field, no Python loop)."""
        index = torch.as_tensor(index, dtype=torch.long)
        return {k: v[index] for k, v in self._fields.items()}


def collate_sequences(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack a list of item dicts (all with the same keys) into one batch dict."""
    return {k: torch.stack([item[k] for item in items]) for k in items[0]}


def as_dataset(data) -> Dataset:
    """A ``Dataset`` as is; a :class:`~liquidtorch.data.SequenceData` wrapped."""
    if isinstance(data, SequenceData):
        return SequenceDataset(data)
    if isinstance(data, Dataset):
        return data
    raise TypeError(
        f"data must be a torch.utils.data.Dataset or a SequenceData, got {type(data).__name__}"
    )

"""Batches of motions of similar length, deterministic per seed and epoch, split evenly between ranks.

Padding every motion to the longest in a random batch wastes much of a batch on zeros when lengths
range from 40 to 196 frames. ``LengthBucketSampler`` shuffles the indices, cuts them into chunks of
``batch_size * bucket_size_multiplier`` (about 100 batches), sorts each chunk by length and cuts it
into batches, then shuffles the order of the batches: batches are nearly uniform in length while the
data order stays random at the chunk scale (the bucketing of fairseq and torchtext's BucketIterator).

The batch list depends only on ``(seed, epoch)``, so every rank of a distributed run computes the same
list and takes its own share. Batches are dealt out in groups of ``num_replicas`` neighbours of one
sorted chunk, so the ranks of a step get batches of nearly equal length and none waits long for another.
Every rank gets the same number of batches (DDP needs equal steps): with ``drop_last`` the last
incomplete group is dropped; without it the group is completed with batches from the start of the
epoch, so a few motions are seen twice, as torch's ``DistributedSampler`` does with single indices.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from mogen_bench.errors import MogenBenchError


class LengthBucketSampler:
    """A batch sampler (``DataLoader(batch_sampler=...)``) of length-homogeneous batches of indices."""

    def __init__(
        self,
        lengths: Sequence[int] | np.ndarray,
        batch_size: int,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = False,
        bucket_size_multiplier: int = 100,
        num_replicas: int = 1,
        rank: int = 0,
    ):
        for name, value, low in (
            ("batch_size", batch_size, 1),
            ("bucket_size_multiplier", bucket_size_multiplier, 1),
            ("num_replicas", num_replicas, 1),
        ):
            if not isinstance(value, int) or value < low:
                raise MogenBenchError(f"{name} must be a whole number >= {low}, got {value!r}", field=name)
        if not 0 <= rank < num_replicas:
            raise MogenBenchError(f"rank must be in [0, {num_replicas}), got {rank}", field="rank")
        self.lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.bucket_size_multiplier = bucket_size_multiplier
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use the batches of ``epoch`` (call before each epoch, as with ``DistributedSampler``)."""
        self.epoch = int(epoch)

    def _global_batches(self) -> list[np.ndarray]:
        """Every batch of the epoch, in order, for all ranks together."""
        count = len(self.lengths)
        # One generator per (seed, epoch): the same on every rank and every run.
        rng = np.random.default_rng([self.seed & (2**63 - 1), self.epoch])
        order = rng.permutation(count) if self.shuffle else np.arange(count)
        chunk = self.batch_size * self.bucket_size_multiplier
        batches: list[np.ndarray] = []
        for begin in range(0, count, chunk):
            part = order[begin : begin + chunk]
            # Stable sort: equal lengths keep their shuffled order, so ties are random too.
            part = part[np.argsort(self.lengths[part], kind="stable")]
            batches.extend(part[i : i + self.batch_size] for i in range(0, len(part), self.batch_size))
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        # Groups of num_replicas neighbouring batches (similar lengths) form one step of all ranks.
        replicas = self.num_replicas
        groups = [batches[i : i + replicas] for i in range(0, len(batches), replicas)]
        if groups and len(groups[-1]) < replicas:
            if self.drop_last:
                groups.pop()
            else:
                missing = replicas - len(groups[-1])
                groups[-1] = groups[-1] + [batches[i % len(batches)] for i in range(missing)]
        if self.shuffle:
            groups = [groups[i] for i in rng.permutation(len(groups))]
        return [batch for group in groups for batch in group]

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._global_batches()
        for batch in batches[self.rank :: self.num_replicas]:
            yield batch.tolist()

    def __len__(self) -> int:
        count, size, replicas = len(self.lengths), self.batch_size, self.num_replicas
        batches = count // size if self.drop_last else -(-count // size)
        return batches // replicas if self.drop_last else -(-batches // replicas)

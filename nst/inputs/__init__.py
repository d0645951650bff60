"""Inputs: which pairs a run makes, each made into a ``Pair`` record (photo, paintings, masks,
start image), the sizes that fit memory, and the ``LightningDataModule`` that owns them."""

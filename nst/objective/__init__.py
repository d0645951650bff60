"""The objective: the frozen VGG19 (``network``), the losses, and ``StyleObjective``, which maps
an image to its named losses for one pair; tiles for print size; the fixed evaluation metrics.
Plain ``nn.Module``s, no Lightning: any code that optimises pixels can use them."""

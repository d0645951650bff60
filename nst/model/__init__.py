"""The optimisation: the ``LightningModule`` whose parameters are the images, with its mixins
(checkpoint hooks, coarse-to-fine stages and the moving average), the strength balance and the
video frame schedule."""

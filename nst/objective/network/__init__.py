"""The network: VGG19's named layers, where its weights come from, the truncated feature extractor."""

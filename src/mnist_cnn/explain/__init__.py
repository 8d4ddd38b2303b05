"""What the network sees: its convolution and pooling layers' feature maps, and occlusion saliency.

Runtime-agnostic: saliency needs only a runtime's `probabilities`; feature maps come from a Keras
model directly or from the verified `features.onnx` that `mnist-cnn export --format onnx` writes
beside `model.onnx` (so serving and explaining an exported model never import TensorFlow).
"""

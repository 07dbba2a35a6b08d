"""Converters from upstream artifact formats (Keras HDF5, tfjs) to ONNX, numpy + onnx only."""

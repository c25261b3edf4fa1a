"""The faster CPU runtime for the image encoders (ONNX export run by ONNX Runtime)."""

"""Reference models for Over-MAP, trained in PyTorch and exported to ONNX.

Reads the scenes and masks that the project's TypeScript generator writes once
(``npm run make:scenes -- <dir> --split <split> --masks``), trains a CBAM ResNet classifier
(with or without the guided-attention loss) and a U-Net object segmenter, and exports both
to ONNX with the outputs the Over-MAP worker reads (logits, the Grad-CAM layer's activations,
the spatial attention mask; the mask probability).
"""

__all__ = ["data", "models", "losses", "train", "export"]

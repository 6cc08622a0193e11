"""Model files: the checkpoint format and its checks, the catalog of bundled, user and given
models, importers of other toolkits' files, ONNX export, and model cards."""

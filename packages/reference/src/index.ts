export * from './fashion-scenes';
export * from './architectures';
export * from './train';
export * from './training-batch-norm';
export * from './to-onnx';
export * from './export-onnx';
export * from './varied-scenes';

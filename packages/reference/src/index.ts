export * from './fashion-scenes';
export * from './architectures';
export * from './scene-sets';
export * from './model-metrics';
export * from './to-onnx';
export * from './export-onnx';
export * from './varied-scenes';
export * from './save-model';

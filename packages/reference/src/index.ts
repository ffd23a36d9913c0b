export * from './fashion-scenes';
export * from './architectures';
export * from './train';
export * from './training-batch-norm';
export * from './varied-scenes';

# CPU worker: ONNX Runtime (CPU library from the npm tarball; its GPU-provider download is
# skipped) for ONNX models and the bundled reference model, TF.js wasm for Layers models and
# the tensor steps after the forward pass. One worker process per core, i.e. pods with 1 CPU
# each, one ORT thread each. Build from the repository root:
#   docker build -f deploy/docker/worker-cpu.Dockerfile .
# Only the CLI's workspaces go in (shared, producer, worker, evaluation): the reference-model
# workspace (scene generator, trainer, Fashion-MNIST) is build-time only.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY packages ./packages
ENV ONNXRUNTIME_NODE_INSTALL=skip
RUN npm ci --no-audit --no-fund --ignore-scripts -w @overmap/cli --include-workspace-root && npx tsc -b packages/cli

FROM node:22-bookworm-slim
ENV NODE_ENV=production OVERMAP_BACKEND=onnx OVERMAP_ONNX_THREADS=1 ONNXRUNTIME_NODE_INSTALL=skip
WORKDIR /app
COPY package.json package-lock.json ./
COPY --from=build /app/packages ./packages
RUN rm -rf packages/reference && npm ci --omit=dev --no-audit --no-fund --ignore-scripts -w @overmap/cli
COPY models ./models
USER node
EXPOSE 9464
# One process per core: V8's parallel GC threads would take CPU from the scoring thread (and
# from the pod's CPU limit) without making it faster; measured in BENCHMARKS.md (fleet).
ENTRYPOINT ["node", "--single-threaded-gc", "packages/cli/bin/overmap.js"]
CMD ["worker"]

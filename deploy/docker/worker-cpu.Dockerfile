# CPU worker: ONNX Runtime (CPU library from the npm tarball; its GPU-provider download is
# skipped) for ONNX models and the bundled reference model, TF.js wasm for Layers models and
# the tensor steps after the forward pass. One worker process per core, i.e. pods with 1 CPU
# each, one ORT thread each. Build from the repository root:
#   docker build -f deploy/docker/worker-cpu.Dockerfile .
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY packages ./packages
ENV ONNXRUNTIME_NODE_INSTALL=skip
RUN npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production OVERMAP_BACKEND=onnx OVERMAP_ONNX_THREADS=1
WORKDIR /app
COPY --from=build /app /app
COPY models ./models
USER node
EXPOSE 9464
ENTRYPOINT ["node", "packages/cli/bin/overmap.js"]
CMD ["worker"]

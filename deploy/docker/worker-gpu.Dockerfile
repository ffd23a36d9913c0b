# GPU worker: @tensorflow/tfjs-node-gpu 4.22 binds libtensorflow 2.9.1, built for
# CUDA 11.2 and cuDNN 8.1. It fails to load libcudart.so.11.0 on CUDA-12-only images.
# GPUs newer than CUDA 11.2 knows (Hopper, Ada) get their kernels compiled just in time
# at first start, which can take many minutes: mount a volume at /cache/cuda and keep it
# across restarts (CUDA_CACHE_PATH, CUDA_CACHE_MAXSIZE below). docs/deploy.md.
# Build from the repository root: docker build -f deploy/docker/worker-gpu.Dockerfile .
FROM nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04 AS base
ARG NODE_MAJOR=22
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl gnupg \
 && curl -fsSL https://deb.nodesource.com/setup_${NODE_MAJOR}.x | bash - \
 && apt-get install -y --no-install-recommends nodejs \
 && rm -rf /var/lib/apt/lists/*

FROM base AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY packages ./packages
RUN npm ci --no-audit --no-fund --ignore-scripts -w @overmap/cli --include-workspace-root && npx tsc -b packages/cli \
 && rm -rf node_modules packages/reference && npm ci --omit=dev --no-audit --no-fund --ignore-scripts -w @overmap/cli
# The GPU backend, pinned to the @tensorflow/tfjs version in package-lock.json (the deploy
# tests check they agree). Its install script downloads libtensorflow for CUDA.
ARG TFJS_VERSION=4.22.0
RUN npm install --no-save --omit=dev @tensorflow/tfjs-node-gpu@${TFJS_VERSION}

FROM base
ENV NODE_ENV=production OVERMAP_BACKEND=tensorflow \
    CUDA_CACHE_PATH=/cache/cuda CUDA_CACHE_MAXSIZE=4294967296 TF_FORCE_GPU_ALLOW_GROWTH=true
WORKDIR /app
COPY --from=build /app /app
COPY models ./models
RUN useradd --uid 10001 --create-home overmap && mkdir -p /cache/cuda && chown overmap /cache/cuda
USER 10001
EXPOSE 9464
ENTRYPOINT ["node", "packages/cli/bin/overmap.js"]
CMD ["worker"]

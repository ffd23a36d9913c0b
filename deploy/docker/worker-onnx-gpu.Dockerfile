# GPU worker for ONNX models (classifier/segmenter `format: onnx`): onnxruntime-node's CUDA
# execution provider. onnxruntime-node 1.30 ships it built for CUDA 12.x and cuDNN 9.x: any
# CUDA 12 minor works (minor-version compatibility; driver >= 525), cuDNN 8 does not load.
# That covers current data-centre GPUs natively (Hopper H100/H200, Ada L4/L40, Ampere A100/A10),
# with no just-in-time kernel compilation at start. TF.js models keep worker-gpu.Dockerfile.
# The CUDA/TensorRT provider libraries are not in the npm tarball: the install script fetches
# them from NuGet (Microsoft.ML.OnnxRuntime.Gpu.Linux, same version), so this build needs
# access to api.nuget.org. TensorRT's provider is fetched too but needs TensorRT, which this
# image does not carry: the worker asks for cuda,cpu (OVERMAP_ONNX_PROVIDERS).
# Build from the repository root: docker build -f deploy/docker/worker-onnx-gpu.Dockerfile .
FROM nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04 AS base
ARG NODE_MAJOR=20
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl gnupg \
 && curl -fsSL https://deb.nodesource.com/setup_${NODE_MAJOR}.x | bash - \
 && apt-get install -y --no-install-recommends nodejs \
 && rm -rf /var/lib/apt/lists/*

FROM base AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY packages ./packages
# cuda12: the CUDA providers for the onnxruntime-node version in package-lock.json.
ENV ONNXRUNTIME_NODE_INSTALL=cuda12
RUN npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev \
 && test -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so

FROM base
# One ORT thread per process: the GPU runs the models; the CPU work around them (decode,
# Grad-CAM through the head, resizing, overlaps on TF.js wasm) is single-threaded, so give
# a pod several worker processes' worth of cores per GPU (docs/deploy.md).
ENV NODE_ENV=production OVERMAP_BACKEND=onnx OVERMAP_ONNX_PROVIDERS=cuda,cpu OVERMAP_ONNX_THREADS=1
WORKDIR /app
COPY --from=build /app /app
COPY models ./models
RUN useradd --uid 10001 --create-home overmap
USER 10001
EXPOSE 9464
ENTRYPOINT ["node", "packages/cli/bin/overmap.js"]
CMD ["worker"]

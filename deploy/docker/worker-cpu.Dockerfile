# CPU worker on the wasm backend (no native download needed): run one worker process per
# core, i.e. pods with 1 CPU each. Build from the repository root:
#   docker build -f deploy/docker/worker-cpu.Dockerfile .
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY packages ./packages
RUN npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production OVERMAP_BACKEND=wasm
WORKDIR /app
COPY --from=build /app /app
COPY models ./models
USER node
EXPOSE 9464
ENTRYPOINT ["node", "packages/cli/bin/overmap.js"]
CMD ["worker"]

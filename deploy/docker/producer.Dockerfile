# Producer (overmap enqueue / status / evaluate / report): no TensorFlow backend is used, but
# the model spec is read to record its hash, so the reference model ships too.
#   docker build -f deploy/docker/producer.Dockerfile .
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY packages ./packages
RUN npm ci --no-audit --no-fund --ignore-scripts -w @overmap/cli --include-workspace-root && npx tsc -b packages/cli

FROM node:22-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
COPY --from=build /app/packages ./packages
RUN rm -rf packages/reference && npm ci --omit=dev --no-audit --no-fund --ignore-scripts -w @overmap/cli
COPY models ./models
USER node
ENTRYPOINT ["node", "packages/cli/bin/overmap.js"]
CMD ["--help"]

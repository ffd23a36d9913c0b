# Producer (overmap enqueue / status): no TensorFlow backend is used, but the model spec
# is read to record its hash, so the reference model ships too.
#   docker build -f deploy/docker/producer.Dockerfile .
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY packages ./packages
ENV ONNXRUNTIME_NODE_INSTALL=skip
RUN npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app /app
COPY models ./models
USER node
ENTRYPOINT ["node", "packages/cli/bin/overmap.js"]
CMD ["--help"]

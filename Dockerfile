# One image for every crgate role: `start` (all roles), `start --role ingest|worker|web`, `migrate`,
# `users ...`, `config`.
#
# node@24 is a devDependency of the project (so that `npm ci` brings Node.js 24 to a developer's
# machine). The base image already has Node.js 24, so the build stage installs everything, builds,
# and then prunes the devDependencies; the runtime stage copies only the built tree.

FROM node:24-bookworm-slim AS build
WORKDIR /app

# Manifests first, so the dependency layer is reused while only source files change.
COPY package.json package-lock.json ./
COPY packages/core/package.json packages/core/
COPY packages/classifier/package.json packages/classifier/
COPY packages/store/package.json packages/store/
COPY packages/ingest/package.json packages/ingest/
COPY packages/worker/package.json packages/worker/
COPY packages/web/package.json packages/web/
COPY packages/cli/package.json packages/cli/
# The committed `crgate` bin shim, so npm links it during `npm ci`.
COPY packages/cli/bin packages/cli/bin
RUN npm ci

COPY tsconfig.base.json tsconfig.json ./
COPY packages/ packages/
RUN npm run build && npm prune --omit=dev


FROM node:24-bookworm-slim
# Inside a container the listeners must not be bound to loopback.
ENV NODE_ENV=production \
    CRGATE_LMTP_LISTEN=0.0.0.0:2424 \
    CRGATE_WEB_LISTEN=0.0.0.0:8080 \
    CRGATE_OPS_LISTEN=0.0.0.0:9464
WORKDIR /app

# The code stays owned by root and read-only for the process. Only /app/data is writable: the default
# CRGATE_DELIVER_TO, maildir:./data/mail, is /app/data/mail here.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/packages/core/package.json packages/core/
COPY --from=build /app/packages/core/dist packages/core/dist
COPY --from=build /app/packages/classifier/package.json packages/classifier/
COPY --from=build /app/packages/classifier/dist packages/classifier/dist
COPY --from=build /app/packages/store/package.json packages/store/
COPY --from=build /app/packages/store/dist packages/store/dist
COPY --from=build /app/packages/store/migrations packages/store/migrations
COPY --from=build /app/packages/ingest/package.json packages/ingest/
COPY --from=build /app/packages/ingest/dist packages/ingest/dist
COPY --from=build /app/packages/worker/package.json packages/worker/
COPY --from=build /app/packages/worker/dist packages/worker/dist
COPY --from=build /app/packages/web/package.json packages/web/
COPY --from=build /app/packages/web/dist packages/web/dist
COPY --from=build /app/packages/web/views packages/web/views
COPY --from=build /app/packages/cli/package.json packages/cli/
COPY --from=build /app/packages/cli/bin packages/cli/bin
COPY --from=build /app/packages/cli/dist packages/cli/dist
RUN mkdir -p /app/data/mail && chown -R node:node /app/data

USER node
EXPOSE 2424 8080 9464
ENTRYPOINT ["node", "packages/cli/dist/main.js"]
CMD ["start"]

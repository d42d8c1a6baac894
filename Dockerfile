# The switchyard images: `serve` (HTTP API + inspector) or `worker`, chosen by the command.
#
#   docker build -t switchyard .                         # the bundled example agents (the last stage)
#   docker build --target project -t my-agents .         # your project (examples/refunds unless PROJECT says)
#   docker build --target project --build-arg PROJECT=path/to/yours -t my-agents .
#
# docker-compose.yml runs the first; docker-compose.project.yml (an override) runs the second.

# Node 22 (LTS): Node 20 reached its end of life in April 2026, and openai 7 and @nats-io/nuid 3
# declare Node 22. The package itself still runs on Node 20.19+ (its test suite runs there).
FROM node:22-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: no script of the dependencies is needed here.
RUN npm ci --ignore-scripts
COPY . .
# The package as it is published (`npm pack`: only what `files` in package.json lists), for the
# project stage; then the build's own node_modules without the dev dependencies.
RUN npm run build \
  && npm pack --ignore-scripts --pack-destination /pkg \
  && mv /pkg/switchyard-*.tgz /pkg/switchyard.tgz \
  && npm prune --omit=dev

# A user's project: its own package.json (and lockfile, if any: dependencies such as switchyard,
# zod and its tools' libraries) and switchyard.config.ts (loaded without a build step), with
# switchyard installed from the tarball above as `npm i switchyard` would install it from the
# registry. `PROJECT` is a folder inside the build context; its node_modules are not copied
# (.dockerignore).
FROM node:22-slim AS project
ARG PROJECT=examples/refunds
WORKDIR /project
ENV NODE_ENV=production
COPY --from=build /pkg/switchyard.tgz /tmp/switchyard.tgz
COPY ${PROJECT}/package*.json ./
RUN npm install --omit=dev --no-audit --no-fund /tmp/switchyard.tgz \
  && rm /tmp/switchyard.tgz \
  && npm cache clean --force
COPY ${PROJECT}/ ./
USER node
EXPOSE 7878
# The working directory holds switchyard.config.*, so `serve` and `worker` run the project.
ENTRYPOINT ["node", "node_modules/switchyard/dist/src/cli/main.js"]
CMD ["serve", "--host", "0.0.0.0", "--nats-url", "nats://nats:4222"]

# The bundled example agents (the default target).
FROM node:22-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
EXPOSE 7878
ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["serve", "--host", "0.0.0.0", "--nats-url", "nats://nats:4222"]

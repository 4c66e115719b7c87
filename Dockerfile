# nuwsgi and an app in a small image: build with the dev tools, run with production deps only,
# as the unprivileged `node` user. docker-compose.yml runs it next to nginx.
FROM node:24-alpine AS build
# node-gyp's toolchain, for the native acceptor (build stage only).
RUN apk add --no-cache python3 make g++
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
# --ignore-scripts: `prepare` builds, and the sources are not here yet.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY src ./src
COPY native ./native
COPY scripts/build-native.mjs ./scripts/
# The native acceptor: if it cannot be built, the image still works on the TypeScript path.
RUN node scripts/build-native.mjs && mkdir -p native/build/Release && npx tsc -p tsconfig.json && npm prune --omit=dev

FROM node:24-alpine
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/native/build/Release ./native/build/Release
COPY bin ./bin
# The app: replace with your own (and its node_modules).
COPY examples/demo ./examples/demo
# The socket directory, shared with nginx through a volume (a new volume takes this owner).
RUN mkdir -p /run/app && chown node:node /run/app
USER node
# Exec form everywhere: node gets SIGTERM directly (docker run --init / compose `init: true`
# adds tini as PID 1 in front of it, which also reaps orphans).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["node", "/app/bin/nuwsgi.js", "health", "--socket", "/run/app/app.sock"]
CMD ["node", "/app/bin/nuwsgi.js", "--socket", "/run/app/app.sock", "--chmod-socket=666", "--processes", "2", "--harakiri", "60", "--worker-reload-mercy", "60", "--vacuum", "/app/examples/demo/app.js"]

# Builds Caddy with caddy-stepup from this checkout:
#   docker build -f xcaddy.Dockerfile -t caddy-stepup .
FROM caddy:2.11-builder AS builder
WORKDIR /src
COPY . .
RUN xcaddy build --with github.com/caddy-stepup/stepup=/src

FROM caddy:2.11
COPY --from=builder /usr/bin/caddy /usr/bin/caddy

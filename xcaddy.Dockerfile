# Caddy with caddy-stepup, built with xcaddy from this checkout, at the Caddy version
# the project is tested with (go.mod's; xcaddy_test.go checks the three below):
#
#   docker build -f xcaddy.Dockerfile -t caddy-stepup .
#
# The demo console (examples/democonsole, the `democonsole` directive of
# Caddyfile.example) is left out: it is a demo with fixed passwords, not for
# production. An image to run the example in:
#
#   docker build -f xcaddy.Dockerfile --build-arg DEMO_CONSOLE=1 -t caddy-stepup-demo .
#
# The module is not published: xcaddy gets a placeholder version replaced with the
# checkout (and, for the demo console, the module replaced at every version, so that
# xcaddy finds the console's package inside it rather than asking the module proxy).
FROM caddy:2.11.9-builder AS builder
ARG DEMO_CONSOLE=0
WORKDIR /src
COPY . .
RUN set -eu; \
	demo=""; \
	if [ "$DEMO_CONSOLE" = 1 ]; then \
		demo="--with github.com/caddy-stepup/stepup/examples/democonsole --replace github.com/caddy-stepup/stepup=/src"; \
	fi; \
	xcaddy build v2.11.9 --output /usr/bin/caddy \
		--with github.com/caddy-stepup/stepup@v0.0.0-00010101000000-000000000000=/src $demo

FROM caddy:2.11.9
COPY --from=builder /usr/bin/caddy /usr/bin/caddy

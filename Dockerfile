# syntax=docker/dockerfile:1

# enrollkit container image.
#
#   docker build -t enrollkit .
#   docker run --rm -p 8080:8080 -e ENROLLKIT_ENV=production \
#     -e ENROLLKIT_SECRET=... -e ENROLLKIT_DATABASE_URL=postgres://... enrollkit
#
# The binary is pure Go (CGO_ENABLED=0), so the runtime image is distroless
# "static": no shell, no package manager, no libc. Subcommands: `serve`
# (default CMD) and `migrate` (docker run ... enrollkit migrate).

# go.mod asks for go 1.26.8 and the golang images set GOTOOLCHAIN=local, so the
# builder must be at least 1.26.8 (the floating 1.26 tag is).
ARG GO_VERSION=1.26

############################ build ############################
# Build on the host's platform and cross-compile for the target one, so
# multi-arch builds (docker buildx --platform ...) need no emulation.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src

# Module download in its own layer: only invalidated when go.mod/go.sum change.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

COPY . .

ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/enrollkit ./cmd/enrollkit

# An empty data directory owned by the distroless "nonroot" user (65532), so
# that /data is writable in the final image and named volumes mounted there
# inherit that ownership.
RUN mkdir -p /out/data

############################ runtime ############################
FROM gcr.io/distroless/static-debian12:nonroot

COPY --from=build /out/enrollkit /enrollkit
COPY --from=build --chown=65532:65532 /out/data /data

# ENROLLKIT_DATA_DIR must be writable when the database is SQLite (the default
# when ENROLLKIT_DATABASE_URL is unset is $ENROLLKIT_DATA_DIR/enrollkit.db) and
# in development, where a generated secret is kept there. Mount a volume on
# /data (owned by, or writable for, uid 65532) to keep that state; with a
# read-only root filesystem, mount a writable volume (e.g. emptyDir) there.
#
# The image runs in production mode: a bare `docker run` refuses to start
# without ENROLLKIT_SECRET and ENROLLKIT_PUBLIC_URL rather than seed an
# example manager and print its password. For a throwaway trial, pass
# -e ENROLLKIT_ENV=development.
ENV ENROLLKIT_ENV=production \
    ENROLLKIT_DATA_DIR=/data \
    ENROLLKIT_ADDR=:8080

USER nonroot:nonroot
EXPOSE 8080

ENTRYPOINT ["/enrollkit"]
CMD ["serve"]

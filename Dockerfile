# syntax=docker/dockerfile:1
# shipgate: one static binary (CGO_ENABLED=0; SQLite is pure Go), built as
# `make build` builds it, on a distroless base with no shell and no libc,
# run as a non-root user.
#
#   docker build -t shipgate .
#
# CI has no Docker engine: it builds the same binary with `make build` and
# checks it is static and runs (.ci/run, phase "static binary").

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -o /out/shipgate ./cmd/shipgate

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/shipgate /usr/local/bin/shipgate
# 65532 is distroless's "nonroot"; numeric so runAsNonRoot can check it.
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["/usr/local/bin/shipgate"]
CMD ["serve", "--config", "/etc/shipgate/config/config.yaml"]

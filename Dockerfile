# Multi-stage build: a static manager binary on distroless, running as UID 65532.
# The build command is the one `make build` and `make image` run (GO_BUILD in the Makefile); keep them
# the same. `make image` builds an equivalent image without Docker (hack/image).
# Both base images are pinned by digest (the tag is kept for reading), so a rebuild gets the same
# bytes and a registry or tag that moves cannot swap them: docs/operations.md says how to update
# them. The builder's Go is go.mod's (the image sets GOTOOLCHAIN=local, so it must not be older).
# golang:1.26.8
FROM golang:1.26.8@sha256:6c2a5538f964f1c82f97ad14988bf05de100d922d159d0e398b54c7b0ca0c6c9 AS builder
WORKDIR /workspace
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY controllers/ controllers/
COPY internal/ internal/
COPY main.go main.go
# The manager's version (main.version): docker build --build-arg VERSION=...
ARG VERSION=v0.0.0-dev
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w -X main.version=${VERSION}" -o bin/manager .

# gcr.io/distroless/static:nonroot
FROM gcr.io/distroless/static:nonroot@sha256:e2e927ec666bae08560abb3c55d0659eceabb657f56b6782ab500a9fc7f555e3
COPY --from=builder /workspace/bin/manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]

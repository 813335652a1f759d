# Multi-stage build: a static manager binary on distroless, running as UID 65532.
# The build command is the one `make build` runs (GO_BUILD in the Makefile); keep them the same.
FROM golang:1.26 AS builder
WORKDIR /workspace
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY controllers/ controllers/
COPY internal/ internal/
COPY main.go main.go
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o bin/manager .

FROM gcr.io/distroless/static:nonroot
COPY --from=builder /workspace/bin/manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]

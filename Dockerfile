# Build with the same flags as `make build`, into a distroless static image
# that runs as non-root.
FROM golang:1.26 AS builder
ARG TARGETOS=linux
ARG TARGETARCH=amd64
WORKDIR /workspace
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath -ldflags "-s -w" -o tokenwarden .

FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /workspace/tokenwarden /tokenwarden
USER 65532:65532
ENTRYPOINT ["/tokenwarden"]

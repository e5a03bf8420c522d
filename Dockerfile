# Multi-stage build: a static binary (no cgo: SQLite is pure Go) on a distroless base, run as non-root.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
COPY bench/kit/go.mod bench/kit/
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/forteleasing ./cmd/forteleasing

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/forteleasing /forteleasing
USER nonroot:nonroot
ENV FL_ADDR=:8080 FL_ADMIN_ADDR=:9090 FL_DATA_DIR=/data
EXPOSE 8080 9090
ENTRYPOINT ["/forteleasing"]
CMD ["serve"]

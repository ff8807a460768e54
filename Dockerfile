# syntax=docker/dockerfile:1.7
# nflbet: one image for the operator, the scrapers and the models (`nflbet operator|scrape|...`).
#
#   V=$(cargo pkgid | sed 's/.*[#@]//')
#   docker build --build-arg VERSION=$V -t localhost/nflbet:$V .    # the chart's default name
#
# Without Docker, `make image` (hack/image.sh) builds the same layout from scratch: /nflbet, glibc
# and libgcc from Debian 12, Debian's CA bundle (SSL_CERT_FILE), nonroot 65532 with its home as
# working directory, and the user, entrypoint, command, port and labels below (compared by
# tests/integration/image.rs). The chart runs the image as uid 65532 with a read-only root
# filesystem, no capabilities and seccomp RuntimeDefault; see docs/install.md, Images.

ARG RUST_VERSION=1
FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
# Sources only (see .dockerignore); the lock file pins every dependency.
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
COPY benches ./benches
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin nflbet \
 && install -D -m 0755 target/release/nflbet /out/nflbet

# glibc + libgcc + CA certificates, no shell, no package manager; user "nonroot" is 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="nflbet" \
      org.opencontainers.image.description="Kubernetes operator for NFL betting operations" \
      org.opencontainers.image.source="https://github.com/nflbet/nflbet" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=builder /out/nflbet /nflbet
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/nflbet"]
CMD ["operator"]

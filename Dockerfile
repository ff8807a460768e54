# syntax=docker/dockerfile:1.7
# nflbet: one image for the operator, the scrapers and the models (`nflbet operator|scrape|...`).
#
#   docker build -t ghcr.io/nflbet/nflbet:$(cargo pkgid | sed 's/.*[#@]//') .
#
# The chart runs this image as uid 65532 with a read-only root filesystem, no capabilities and
# seccomp RuntimeDefault; see docs/install.md for the published tags.

ARG RUST_VERSION=1
FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
# Sources only (see .dockerignore); the lock file pins every dependency.
COPY Cargo.toml Cargo.lock ./
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

# Multi-stage build of the ltv-pipes binary. The image runs `serve` against an
# external PostgreSQL given by DATABASE_URL (the embedded cluster is for single
# machines; in containers, run PostgreSQL as its own service).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY sql ./sql
COPY benches ./benches
COPY config.yml build.rs ./
RUN cargo build --release --locked --bin ltv-pipes

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/ltv-pipes --create-home ltv
COPY --from=build /src/target/release/ltv-pipes /usr/local/bin/ltv-pipes
COPY config.yml /etc/ltv-pipes/config.yml
COPY pipes /etc/ltv-pipes/pipes
USER ltv
WORKDIR /var/lib/ltv-pipes
ENV LTV_LISTEN=0.0.0.0:7181 \
    LTV_DATA_DIR=/var/lib/ltv-pipes \
    LTV_PIPES__DIR=/etc/ltv-pipes/pipes \
    LTV_CONFIG=/etc/ltv-pipes/config.yml
EXPOSE 7181
# The binary probes itself (GET /health on LTV_LISTEN): the slim image has no
# curl, and /bin/sh is dash, which has no /dev/tcp.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s CMD ["ltv-pipes", "health"]
ENTRYPOINT ["ltv-pipes"]
CMD ["serve"]

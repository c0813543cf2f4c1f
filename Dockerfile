# Builds every binary of the pipeline once; each service picks its binary.
#   docker build -t clickstream .
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake libcurl4-openssl-dev libssl-dev libsasl2-dev default-libmysqlclient-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --workspace --bins

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libcurl4 libmariadb3 libssl3 libsasl2-2 libsasl2-modules curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/clickstream --create-home clickstream
COPY --from=build /src/target/release/spool-agent /src/target/release/fanout-agent \
     /src/target/release/speed-job /src/target/release/batch-job /src/target/release/serve /usr/local/bin/
COPY schemas /usr/share/clickstream/schemas
USER clickstream
WORKDIR /var/lib/clickstream

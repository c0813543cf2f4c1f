# Airflow with the batch job inside, so that the DAG (conf/airflow/clickstream_batch.py) can run it.
# Built by docker-compose.yml's `airflow` service (profile airflow) from the repository root:
#   docker compose --profile airflow up -d --build
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake libcurl4-openssl-dev default-libmysqlclient-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p batch-job

# The Airflow version the tests run (tests/airflow/airflow.sh).
FROM apache/airflow:3.3.2
USER root
RUN apt-get update && apt-get install -y --no-install-recommends libmariadb3 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/batch-job /usr/local/bin/batch-job
USER airflow

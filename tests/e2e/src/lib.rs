//! Holds the product-level tests in `tests/`: deployment files (systemd
//! units, docker-compose) and, as the pipeline grows, the whole flow with the
//! real binaries as separate processes.

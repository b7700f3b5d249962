//! Integration tests: the real server over real HTTP against real databases.

mod alerts;
mod bench;
mod browser;
mod cache;
mod common;
mod crash;
mod dashboard;
mod devices;
mod idempotency;
mod openapi;
mod otlp;
mod schema;
mod stats;
mod telemetry;
mod upload;
mod validation;
mod writer;

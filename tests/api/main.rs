//! Integration tests: the real server over real HTTP against real databases.

mod alerts;
mod browser;
mod cache;
mod cluster;
mod common;
mod crash;
mod dashboard;
mod devices;
mod drain;
mod edge;
mod housekeeping;
mod idempotency;
mod keys;
mod login;
mod notifications;
mod openapi;
mod otlp;
mod privacy;
mod schema;
mod sessions;
mod stats;
mod telemetry;
mod topology;
mod upload;
mod validation;
mod writer;

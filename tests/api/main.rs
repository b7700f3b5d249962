//! Integration tests: the real server over real HTTP against real databases.

mod common;
mod devices;
mod idempotency;
mod openapi;
mod schema;
mod stats;
mod upload;
mod validation;

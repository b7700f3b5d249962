//! Load and database benchmarks of ljwx-bigscreen, kept out of the service crate: the load
//! generator `ljwx-stress` (its own binary, `src/bin/ljwx-stress/`) and `bench-db`, the
//! database's raw insert rate ([`bench`]) that the writer's throughput is read against.

pub mod bench;

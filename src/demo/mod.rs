//! `ltv-pipes demo`: loads deterministic, realistic demo data through the bulk
//! path (the same code as `POST /v0/datasources?mode=append`), so a newcomer
//! sees real answers in a minute and the benchmarks have a million customers.
//!
//! Generation runs on a blocking thread and streams CSV into the loader through
//! a bounded channel: memory stays constant whatever `--customers` is.

pub mod csv;
pub mod generate;
pub mod load;

pub use load::{load, PassReport};

pub use generate::{Process, Spec};

//! ltv-pipes: a customer-lifetime-value analytics API that speaks Tinybird's Events
//! and Pipes APIs, stored in PostgreSQL.
//!
//! Codemap (see ARCHITECTURE.md):
//! - [`config`]: typed settings from `config.yml` + environment.
//! - [`db`]: the pool, the embedded PostgreSQL cluster, migrations, readiness.
//! - [`auth`]: tokens and scopes (no HTTP).
//! - [`cache`]: polling: data versions (LISTEN/NOTIFY), ETags, the answer cache.
//! - [`ingest`]: bodies → validated rows + quarantine, one transaction (no HTTP).
//! - [`forecast`]: BG/NBD + Gamma-Gamma models and the discounted CLV (pure: no I/O).
//! - [`pipes`]: pipe files → validated parameters → bound SQL → rows → JSON/CSV/NDJSON.
//! - [`rollups`]: the derived state the pipes read, and its verification against the raw rows.
//! - [`http`]: the router, handlers, middleware and the one error type that maps to status codes.
//! - [`app`]: start-up and shutdown, shared by `serve` and the tests.
//! - [`cli`]: the command line; [`health`]: the container health probe.

pub mod app;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod forecast;
pub mod forecasting;
pub mod health;
pub mod http;
pub mod ingest;
pub mod pipes;
pub mod prometheus;
pub mod rollups;
pub mod telemetry;

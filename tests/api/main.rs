//! Integration tests: the real server over HTTP against a real PostgreSQL.
//! One binary, so one throwaway cluster serves every test (each gets its own database).

mod helpers;

mod auth;
mod bulk;
mod clv_golden;
mod clv_params;
mod clv_reference;
mod demo;
mod durability;
mod events;
mod fast_paths;
mod forecast;
mod hostile;
mod metrics;
mod operations;
mod overload;
mod pipes;
mod polling;
mod roles;
mod rollups;
mod validation;

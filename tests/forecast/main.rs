//! The forecast models (BG/NBD, Gamma-Gamma, CLV) against published and
//! independently computed values: one test binary, a module per concern.

#[allow(clippy::excessive_precision)]
mod cdnow_fit;
#[allow(dead_code)]
mod common;
mod edge_cases;
mod example;
#[allow(clippy::excessive_precision, clippy::approx_constant)]
mod grid;
mod performance;
mod recovery;
#[allow(clippy::excessive_precision)]
mod reference_values;

//! Customer-lifetime-value forecast: the BG/NBD purchase model and the
//! Gamma-Gamma spend model, fitted by maximum likelihood. Pure computation:
//! no I/O, no SQL, no HTTP.
//!
//! **What the models say, in plain words.** Every customer is summarised by
//! how many times they came back (`frequency`, x), when they last came
//! (`recency`, t_x, measured from their first purchase) and how long we have
//! known them (`T`). BG/NBD (Fader, Hardie & Lee 2005) assumes that while a
//! customer is "alive" they buy at their own steady random rate, and that
//! after each purchase they may leave for good with their own probability.
//! Rates vary across customers as a Gamma distribution (parameters r, α),
//! leaving probabilities as a Beta distribution (a, b). Fitting finds the
//! four numbers that make the observed histories most likely. From them
//! follow, per customer, the probability of still being alive (someone who
//! used to buy often but has been silent for a long time is probably gone)
//! and the expected number of purchases in the coming months.
//!
//! Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV") models how much a
//! customer spends per purchase: each customer has their own average, and
//! the averages vary across customers (parameters p, q, γ). A customer's
//! expected spend is a blend of their own observed average and the
//! population's, leaning on their own the more purchases we have seen. It
//! is fitted on repeat buyers only and assumes spend does not depend on how
//! often someone buys.
//!
//! CLV multiplies the two: for each month of the horizon, the expected
//! purchases in that month times the expected spend, discounted to today
//! and multiplied by the margin (see docs/METRICS.md).
//!
//! **Codemap.** [`summary`] collapses customers into unique histories with
//! counts, so fitting cost grows with distinct histories, not customers;
//! [`bgnbd`] and [`gamma_gamma`] hold the parameters, likelihoods and
//! predictions; `bgnbd_fit` / `gamma_gamma_fit` the fits over
//! log-parameters; `optimize` a small BFGS; [`special`] ln Γ, digamma and
//! the hypergeometric ₂F₁; [`clv`] the discounted value. Predictions return
//! a finite number or a [`ForecastError`], never NaN.
//!
//! Typical use (the path prefix depends on the crate the module lives in;
//! the same code runs as `tests/example.rs`):
//!
//! ```text
//! use crate::forecast::{fit_bgnbd, fit_gamma_gamma, forecast_customer, ClvSettings, FitOptions, Triples};
//! let customers = [(0, 0.0, 300.0, 0.0), (3, 200.0, 300.0, 25.0), (1, 50.0, 100.0, 40.0), (5, 90.0, 120.0, 10.0)];
//! let data = Triples::from_customers(customers)?;
//! let bg = fit_bgnbd(&data, &FitOptions::default())?;
//! let gg = fit_gamma_gamma(&data, &FitOptions::default())?;
//! let f = forecast_customer(&bg.params, &gg.params, 3, 200.0, 300.0, 25.0, &ClvSettings::default());
//! ```

pub mod bgnbd;
mod bgnbd_fit;
pub mod clv;
mod error;
mod fit;
pub mod gamma_gamma;
mod gamma_gamma_fit;
mod hyp2f1;
mod optimize;
pub mod special;
pub mod summary;

pub use bgnbd::BgNbdParams;
pub use bgnbd_fit::{fit_bgnbd, fit_bgnbd_from, total_log_likelihood};
pub use clv::{forecast_customer, predicted_clv, ClvSettings, CustomerForecast, DAYS_PER_MONTH};
pub use error::{ForecastError, Result};
pub use fit::{FitOptions, FitReport};
pub use gamma_gamma::GammaGammaParams;
pub use gamma_gamma_fit::{fit_gamma_gamma, total_spend_log_likelihood};
pub use summary::{HistoryRow, SpendRow, Triples, TriplesBuilder};

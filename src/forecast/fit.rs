//! What every fit takes and gives back.

use serde::{Deserialize, Serialize};

use super::error::{ForecastError, Result};
use super::optimize::{self, Outcome, Settings};

/// Options shared by the BG/NBD and Gamma-Gamma fits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FitOptions {
    /// L2 penalty as in the `lifetimes` library: the minimised objective is
    /// −(log-likelihood)/n_customers + penalizer_coef · Σ θ², θ the natural
    /// parameters (BG/NBD: with α measured in units of the largest T, as
    /// `lifetimes` does, so the penalty does not depend on the time unit).
    pub penalizer_coef: f64,
    /// BFGS iteration limit (per start).
    pub max_iterations: usize,
    /// Converged when every |∂objective/∂ln θ| is at most this; the
    /// objective is per customer, so the value does not depend on n.
    pub gradient_tolerance: f64,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            penalizer_coef: 0.0,
            max_iterations: 1000,
            gradient_tolerance: 1e-9,
        }
    }
}

impl FitOptions {
    pub(crate) fn validate(&self) -> Result<()> {
        if !(self.penalizer_coef >= 0.0 && self.penalizer_coef.is_finite()) {
            return Err(ForecastError::InvalidInput(format!(
                "penalizer_coef must be finite and >= 0, got {}",
                self.penalizer_coef
            )));
        }
        if self.gradient_tolerance.is_nan() || self.gradient_tolerance <= 0.0 {
            return Err(ForecastError::InvalidInput(
                "gradient_tolerance must be > 0".into(),
            ));
        }
        Ok(())
    }

    pub(crate) fn settings(&self) -> Settings {
        Settings {
            max_iterations: self.max_iterations,
            gradient_tolerance: self.gradient_tolerance,
        }
    }
}

/// The result of a fit: the parameters and how they were reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitReport<P> {
    /// Maximum-likelihood (or penalised) parameters.
    pub params: P,
    /// Total log-likelihood at `params` over all customers, with every
    /// constant of the density kept (for CDNOW's BG/NBD fit: −9582.4, the
    /// number in the paper); the penalty is not included.
    pub log_likelihood: f64,
    /// BFGS iterations, summed over starting points.
    pub iterations: usize,
    /// Whether the gradient criterion was met, or the line search could no
    /// longer improve the objective at max |gradient| <= 1e-6 (the optimum
    /// to floating-point resolution; `message` says which). A report with
    /// `false` still holds the best parameters found (e.g. a one-customer
    /// Gamma-Gamma fit, whose likelihood has no maximum); callers decide
    /// whether to use them.
    pub converged: bool,
    /// Customers in the sample (the sum of the counts).
    pub n_customers: u64,
    /// Unique histories the likelihood was evaluated on.
    pub n_unique: usize,
    /// Why the optimiser stopped, in words.
    pub message: String,
}

/// Runs BFGS from each start in turn until one converges; keeps the lowest
/// objective. Several starts only cost time when the first one fails.
pub(crate) fn multi_start<const N: usize, F>(
    mut objective: F,
    starts: &[[f64; N]],
    options: &FitOptions,
) -> Result<Outcome<N>>
where
    F: FnMut(&[f64; N], &mut [f64; N]) -> f64,
{
    let mut best: Option<Outcome<N>> = None;
    let mut iterations = 0;
    for start in starts {
        let out = optimize::minimize(&mut objective, *start, options.settings());
        iterations += out.iterations;
        let better = out.f.is_finite() && best.as_ref().is_none_or(|b| out.f < b.f);
        let done = out.converged;
        if better {
            best = Some(out);
        }
        if done {
            break;
        }
    }
    let mut best =
        best.ok_or_else(|| ForecastError::NonFiniteLikelihood("at every starting point".into()))?;
    best.iterations = iterations;
    Ok(best)
}

//! Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV: using
//! iso-value curves"; likelihood as in Hardie's note 025).
//!
//! Each purchase of a customer is Gamma(p, ν) in value; across customers
//! ν ~ Gamma(q, γ). Spend is assumed independent of the purchase process.

use serde::{Deserialize, Serialize};

use super::error::{finite, positive, ForecastError, Result};
use super::special::ln_gamma;

/// Fitted Gamma-Gamma parameters (γ is in money units).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaParams {
    /// Shape of the per-purchase value distribution.
    pub p: f64,
    /// Shape of the distribution of ν across customers.
    pub q: f64,
    /// Scale of the distribution of ν across customers (`v` in `lifetimes`).
    pub gamma: f64,
}

impl GammaGammaParams {
    /// Checked constructor: all three finite and > 0.
    pub fn new(p: f64, q: f64, gamma: f64) -> Result<Self> {
        let g = Self { p, q, gamma };
        g.validate()?;
        Ok(g)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        positive("p", self.p)?;
        positive("q", self.q)?;
        positive("gamma", self.gamma)?;
        Ok(())
    }

    /// ln f(m̄ | x) of one repeat buyer, the density of the mean of x
    /// purchase values (note 025, eq. 1a; same constants as `lifetimes`):
    /// ln Γ(px+q) − ln Γ(px) − ln Γ(q) + q ln γ + (px−1) ln m̄ + px ln x
    ///   − (px+q) ln(γ + x m̄).
    pub fn log_likelihood(&self, x: u32, m: f64) -> Result<f64> {
        self.validate()?;
        spend_input(x, m)?;
        let Self { p, q, gamma } = *self;
        let (xf, px) = (x as f64, p * x as f64);
        let ll = ln_gamma(px + q) - ln_gamma(px) - ln_gamma(q)
            + q * gamma.ln()
            + (px - 1.0) * m.ln()
            + px * xf.ln()
            - (px + q) * (gamma + xf * m).ln();
        ll.is_finite()
            .then_some(ll)
            .ok_or_else(|| ForecastError::NonFiniteLikelihood(format!("x={x}, m={m}")))
    }

    /// E[M] = pγ/(q−1), the mean purchase value of the population; infinite
    /// (an error) when q <= 1.
    pub fn population_mean(&self) -> Result<f64> {
        self.validate()?;
        if self.q <= 1.0 {
            return Err(ForecastError::NonFiniteResult(format!(
                "population mean spend is infinite for q = {} <= 1",
                self.q
            )));
        }
        Ok(self.p * self.gamma / (self.q - 1.0))
    }

    /// E[M | x, m̄] = (γ + x m̄) p / (px + q − 1) (eq. 5 of the note), a
    /// weighted mean of the customer's own m̄ and the population mean.
    /// Decision: a customer who is not in the spend sample (x = 0, or
    /// m̄ <= 0 from refunds) has no usable spend evidence and gets the
    /// population mean; `lifetimes` would plug m̄ into the formula anyway.
    pub fn conditional_expected_average_value(&self, x: u32, m: f64) -> Result<f64> {
        self.validate()?;
        finite("monetary_value", m)?;
        if x == 0 || m <= 0.0 {
            return self.population_mean();
        }
        let Self { p, q, gamma } = *self;
        let xf = x as f64;
        let v = (gamma + xf * m) * p / (p * xf + q - 1.0);
        // p x + q − 1 > 0 here unless q < 1 and px tiny: then no finite mean.
        if v.is_finite() && p * xf + q - 1.0 > 0.0 {
            Ok(v)
        } else {
            Err(ForecastError::NonFiniteResult(format!(
                "expected spend is infinite for p x + q <= 1 (x={x})"
            )))
        }
    }
}

/// The spend model's data requirements: x > 0 and a finite m̄ > 0.
fn spend_input(x: u32, m: f64) -> Result<()> {
    finite("monetary_value", m)?;
    if x == 0 || m <= 0.0 {
        return Err(ForecastError::InvalidInput(format!(
            "Gamma-Gamma needs frequency > 0 and monetary_value > 0, got x={x}, m={m}"
        )));
    }
    Ok(())
}

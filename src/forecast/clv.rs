//! Discounted customer lifetime value, exactly as docs/METRICS.md defines it:
//! predicted_clv = margin · Σ_{m=1..H} E[value] · (E[purchases by month m]
//!   − E[purchases by month m−1]) / (1 + monthly_discount)^m,
//! monthly_discount = (1 + discount_rate)^(1/12) − 1.

use serde::{Deserialize, Serialize};

use super::bgnbd::BgNbdParams;
use super::error::{finite, ForecastError, Result};
use super::gamma_gamma::GammaGammaParams;

/// Days in an average Gregorian month (365.2425 / 12).
pub const DAYS_PER_MONTH: f64 = 30.4375;

/// How CLV is discounted and over which horizon.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClvSettings {
    /// Months to sum over.
    pub horizon_months: u32,
    /// Yearly discount rate (0.10 = 10 %).
    pub discount_rate: f64,
    /// Share of spend that is profit; 1.0 makes CLV a revenue figure.
    pub margin: f64,
    /// Model time units per month: 30.4375 for daily periods (docs/METRICS.md);
    /// e.g. 4.345 for weekly data as in `lifetimes`.
    pub periods_per_month: f64,
}

impl Default for ClvSettings {
    fn default() -> Self {
        Self {
            horizon_months: 12,
            discount_rate: 0.10,
            margin: 1.0,
            periods_per_month: DAYS_PER_MONTH,
        }
    }
}

impl ClvSettings {
    /// (1 + discount_rate)^(1/12) − 1, computed without cancellation.
    pub fn monthly_discount(&self) -> f64 {
        (self.discount_rate.ln_1p() / 12.0).exp_m1()
    }

    fn validate(&self) -> Result<()> {
        finite("margin", self.margin)?;
        if !(self.discount_rate > -1.0 && self.discount_rate.is_finite()) {
            return Err(ForecastError::InvalidInput(format!(
                "discount_rate must be finite and > -1, got {}",
                self.discount_rate
            )));
        }
        if !(self.periods_per_month > 0.0 && self.periods_per_month.is_finite()) {
            return Err(ForecastError::InvalidInput(
                "periods_per_month must be > 0".into(),
            ));
        }
        Ok(())
    }
}

/// The per-customer outputs of docs/METRICS.md's forecast section.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CustomerForecast {
    /// P(alive) at the end of observation.
    pub p_alive: f64,
    /// Expected repeat purchases over the horizon.
    pub expected_purchases: f64,
    /// Expected value of one future purchase (Gamma-Gamma).
    pub expected_avg_value: f64,
    /// Discounted margin over the horizon.
    pub predicted_clv: f64,
}

/// CLV of one customer with history (x, t_x, T) whose expected value per
/// purchase is `expected_value` (usually from Gamma-Gamma).
pub fn predicted_clv(
    bg: &BgNbdParams,
    expected_value: f64,
    x: u32,
    t_x: f64,
    big_t: f64,
    settings: &ClvSettings,
) -> Result<f64> {
    Ok(discounted(bg, expected_value, x, t_x, big_t, settings)?.1)
}

/// (expected purchases over the horizon, CLV); one pass over the months.
fn discounted(
    bg: &BgNbdParams,
    expected_value: f64,
    x: u32,
    t_x: f64,
    big_t: f64,
    s: &ClvSettings,
) -> Result<(f64, f64)> {
    s.validate()?;
    finite("expected_value", expected_value)?;
    let ln_factor = s.monthly_discount().ln_1p();
    let (mut previous, mut total) = (0.0, 0.0);
    for month in 1..=s.horizon_months {
        let t = month as f64 * s.periods_per_month;
        let cumulative = bg.conditional_expected_purchases(t, x, t_x, big_t)?;
        total += (cumulative - previous) * (-(month as f64) * ln_factor).exp();
        previous = cumulative;
    }
    let clv = s.margin * expected_value * total;
    if clv.is_finite() {
        Ok((previous, clv))
    } else {
        Err(ForecastError::NonFiniteResult(format!(
            "CLV evaluated to {clv}"
        )))
    }
}

/// Everything docs/METRICS.md lists per customer, from both fitted models.
/// `monetary` is the mean value of the repeat purchases (0 when x = 0).
pub fn forecast_customer(
    bg: &BgNbdParams,
    gg: &GammaGammaParams,
    frequency: u32,
    recency: f64,
    big_t: f64,
    monetary: f64,
    settings: &ClvSettings,
) -> Result<CustomerForecast> {
    let p_alive = bg.p_alive(frequency, recency, big_t)?;
    let expected_avg_value = gg.conditional_expected_average_value(frequency, monetary)?;
    let (expected_purchases, predicted_clv) =
        discounted(bg, expected_avg_value, frequency, recency, big_t, settings)?;
    Ok(CustomerForecast {
        p_alive,
        expected_purchases,
        expected_avg_value,
        predicted_clv,
    })
}

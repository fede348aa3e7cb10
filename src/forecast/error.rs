//! The one error type of the forecast module.

/// Everything that can go wrong when fitting or predicting.
///
/// Prediction functions never return NaN: they return a finite number or one
/// of these. The variants say what the caller can fix (`InvalidInput`,
/// `NoData`, `NoRepeatBuyers`) apart from what the numbers did
/// (`NonFiniteLikelihood`, `Hyp2f1NotConverged`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForecastError {
    /// No customer (or only zero counts) was given to a fit.
    #[error("no customers to fit")]
    NoData,
    /// Gamma-Gamma needs customers with frequency > 0 and monetary value > 0.
    #[error("no repeat buyers with a positive monetary value: the spend model cannot be fitted")]
    NoRepeatBuyers,
    /// The likelihood (or its gradient) was not finite at the start or at the optimum.
    #[error("the log-likelihood is not finite ({0})")]
    NonFiniteLikelihood(String),
    /// A prediction overflowed or lost all precision (never returned as NaN).
    #[error("the prediction is not finite ({0})")]
    NonFiniteResult(String),
    /// The Gaussian hypergeometric series did not reach its tolerance.
    #[error("hypergeometric 2F1({a}, {b}; {c}; {z}) did not converge: {reason}")]
    Hyp2f1NotConverged {
        a: f64,
        b: f64,
        c: f64,
        z: f64,
        reason: &'static str,
    },
    /// A negative count, recency > T, a NaN, a non-positive parameter, ...
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

/// Result alias used throughout the module.
pub type Result<T> = std::result::Result<T, ForecastError>;

/// Rejects NaN and infinities with a message naming the value.
pub(crate) fn finite(name: &str, v: f64) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(ForecastError::InvalidInput(format!(
            "{name} must be finite, got {v}"
        )))
    }
}

/// A finite, strictly positive model parameter.
pub(crate) fn positive(name: &str, v: f64) -> Result<f64> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(ForecastError::InvalidInput(format!(
            "{name} must be finite and > 0, got {v}"
        )))
    }
}

/// Checks one customer's history: 0 <= recency <= T, all finite, and
/// recency = 0 when there was no repeat purchase (that is the definition).
pub(crate) fn history(x: u32, t_x: f64, t: f64) -> Result<()> {
    finite("recency", t_x)?;
    finite("T", t)?;
    if t_x < 0.0 || t < 0.0 {
        return Err(ForecastError::InvalidInput(format!(
            "recency and T must be >= 0, got recency={t_x}, T={t}"
        )));
    }
    if t_x > t {
        return Err(ForecastError::InvalidInput(format!(
            "recency ({t_x}) must not exceed T ({t})"
        )));
    }
    if x == 0 && t_x != 0.0 {
        return Err(ForecastError::InvalidInput(format!(
            "recency must be 0 when frequency is 0, got {t_x}"
        )));
    }
    Ok(())
}

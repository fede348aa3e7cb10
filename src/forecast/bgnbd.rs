//! BG/NBD purchase model (Fader, Hardie & Lee 2005, "Counting your customers
//! the easy way"): per-customer likelihood and predictions.
//!
//! While alive a customer buys at Poisson rate λ ~ Gamma(r, α); after every
//! repeat purchase they drop out for good with probability p ~ Beta(a, b).
//! Equation numbers below are the paper's.

use serde::{Deserialize, Serialize};

use super::error::{finite, history, positive, ForecastError, Result};
use super::special::{expit, hyp2f1, ln_gamma, log_sum_exp};

/// Fitted BG/NBD parameters; α is in the time unit of the data (days here).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbdParams {
    /// Shape of the purchase-rate distribution.
    pub r: f64,
    /// Scale (time) of the purchase-rate distribution.
    pub alpha: f64,
    /// Beta shape of the dropout probability.
    pub a: f64,
    /// Beta shape of the dropout probability.
    pub b: f64,
}

/// Below this |a − 1| the expectation formulas are 0/0 at a = 1; they are
/// evaluated at a ± A_NUDGE and averaged (error O(A_NUDGE²) ~ 1e-10).
const A_SINGULAR: f64 = 1e-7;
const A_NUDGE: f64 = 1e-5;
/// Beyond this a + b + x the dropout Beta(a, b + x) is so concentrated (sd of
/// p below 1% of its mean) that the 2F1 parameters, which grow with a and b,
/// would need millions of series terms; the expectation over p is then taken
/// by a second-order expansion around its mean instead (relative error of
/// order (1/(a+b+x))², below 1e-8 here). Fits reach such values when the data
/// say "everyone drops out with the same probability" (a, b → ∞, a/(a+b) fixed).
const CONCENTRATED_BETA: f64 = 1e4;

impl BgNbdParams {
    /// Checked constructor: all four finite and > 0.
    pub fn new(r: f64, alpha: f64, a: f64, b: f64) -> Result<Self> {
        let p = Self { r, alpha, a, b };
        p.validate()?;
        Ok(p)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        positive("r", self.r)?;
        positive("alpha", self.alpha)?;
        positive("a", self.a)?;
        positive("b", self.b)?;
        Ok(())
    }

    /// ln L(r, α, a, b | x, t_x, T) of one customer (eq. 6, in logs):
    /// ln Γ(r+x) − ln Γ(r) + r ln α + ln B(a, b+x) − ln B(a, b)
    ///   + ln[(α+T)^−(r+x) + δ(x>0) a/(b+x−1) (α+t_x)^−(r+x)].
    pub fn log_likelihood(&self, x: u32, t_x: f64, t: f64) -> Result<f64> {
        self.validate()?;
        history(x, t_x, t)?;
        let Self { r, alpha, a, b } = *self;
        let xf = x as f64;
        let a1 = ln_gamma(r + xf) - ln_gamma(r) + r * alpha.ln();
        let a2 = ln_gamma(a + b) + ln_gamma(b + xf) - ln_gamma(b) - ln_gamma(a + b + xf);
        let a3 = -(r + xf) * (alpha + t).ln();
        let ll = if x > 0 {
            let a4 = a.ln() - (b + xf - 1.0).ln() - (r + xf) * (alpha + t_x).ln();
            a1 + a2 + log_sum_exp(a3, a4)
        } else {
            a1 + a2 + a3
        };
        ll.is_finite()
            .then_some(ll)
            .ok_or_else(|| ForecastError::NonFiniteLikelihood(format!("x={x}, t_x={t_x}, T={t}")))
    }

    /// P(alive | x, t_x, T) = 1 / (1 + δ(x>0) a/(b+x−1) ((α+T)/(α+t_x))^(r+x))
    /// (Fader, Hardie & Lee 2008 note "Computing P(alive) using the BG/NBD
    /// model"); 1 for x = 0, since BG/NBD customers can only drop out right
    /// after a repeat purchase. Computed as a logistic of the log-odds.
    pub fn p_alive(&self, x: u32, t_x: f64, t: f64) -> Result<f64> {
        self.validate()?;
        history(x, t_x, t)?;
        Ok(self.p_alive_unchecked(x, t_x, t))
    }

    fn p_alive_unchecked(&self, x: u32, t_x: f64, t: f64) -> f64 {
        if x == 0 {
            return 1.0;
        }
        let xf = x as f64;
        let ln_odds_dead = self.a.ln() - (self.b + xf - 1.0).ln()
            + (self.r + xf) * ((self.alpha + t).ln() - (self.alpha + t_x).ln());
        expit(-ln_odds_dead)
    }

    /// E[Y(t) | x, t_x, T]: expected repeat purchases in (T, T+t] (eq. 10).
    pub fn conditional_expected_purchases(
        &self,
        t: f64,
        x: u32,
        t_x: f64,
        big_t: f64,
    ) -> Result<f64> {
        self.validate()?;
        history(x, t_x, big_t)?;
        horizon(t)?;
        let alive = self.p_alive_unchecked(x, t_x, big_t);
        let e = self.nudged(|a| self.expected_if_alive(a, t, x as f64, big_t))?;
        finite_output(alive * e)
    }

    /// E[X(t)] for a customer just acquired (eq. 7): the unconditional mean
    /// number of repeat purchases in (0, t]. Used to validate the fit.
    pub fn expected_purchases_new(&self, t: f64) -> Result<f64> {
        self.validate()?;
        horizon(t)?;
        finite_output(self.nudged(|a| self.expected_if_alive(a, t, 0.0, 0.0))?)
    }

    /// Evaluates `f` at a, or, where the formulas are 0/0 (a = 1, or
    /// c = a+b−1 a pole for x = 0), at a ± A_NUDGE and averages.
    fn nudged(&self, f: impl Fn(f64) -> Result<f64>) -> Result<f64> {
        let a = self.a;
        // With a, b > 0 the only pole of c = a+b−1 (x = 0) is a + b = 1.
        let pole = (a + self.b - 1.0).abs() < A_SINGULAR;
        if (a - 1.0).abs() < A_SINGULAR || pole {
            let d = A_NUDGE.min(0.5 * a); // a − d stays > 0
            Ok(0.5 * (f(a - d)? + f(a + d)?))
        } else {
            f(a)
        }
    }

    /// The numerator of eq. 10 (= E[Y(t)] given alive at T):
    /// (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x; a+b+x−1; z)],
    /// z = t/(α+T+t). Euler's transformation F(A,B;C;z) = (1−z)^(C−A−B)
    /// F(C−A, C−B; C; z) turns the bracket into
    /// 1 − (1−z)^(a−1) ₂F₁(a+b−1−r, a−1; a+b+x−1; z), whose parameters no
    /// longer grow with x: no huge terms for heavy buyers, and the series
    /// is short whenever x is large. (The original form is the fallback.)
    fn expected_if_alive(&self, a: f64, t: f64, xf: f64, big_t: f64) -> Result<f64> {
        if t == 0.0 {
            return Ok(0.0);
        }
        if a + self.b + xf > CONCENTRATED_BETA {
            return Ok(self.expected_if_alive_concentrated(a, t, xf, big_t));
        }
        let Self { r, alpha, b, .. } = *self;
        let z = t / (alpha + big_t + t);
        let ln_1mz = -(t / (alpha + big_t)).ln_1p();
        let c = a + b + xf - 1.0;
        // h = e^ln_pre · f. The Euler form first; when its terms alternate
        // and cancel (r much larger than a + b) the original form, whose
        // terms are all positive for c > 0, is the stable one.
        let (ln_pre, f) = match hyp2f1(a + b - 1.0 - r, a - 1.0, c, z) {
            Ok(f) => ((a - 1.0) * ln_1mz, f),
            Err(e) => match hyp2f1(r + xf, b + xf, c, z) {
                Ok(f) => ((r + xf) * ln_1mz, f),
                Err(_) => return Err(e),
            },
        };
        // 1 − h via expm1 when h > 0, so small horizons keep their digits.
        // F < 0 happens only when c = a+b+x−1 < 0 (x = 0, a+b < 1), where
        // the formula still holds by analytic continuation (checked by
        // simulation) and 1 − h > 1 has no cancellation.
        let one_minus_h = if f > 0.0 {
            -(ln_pre + f.ln()).exp_m1()
        } else {
            1.0 - ln_pre.exp() * f
        };
        Ok(c / (a - 1.0) * one_minus_h)
    }
}

impl BgNbdParams {
    /// E[Y(t) | alive] = E_p[g(p)], g(p) = (1 − (1 + p·u)^(−k)) / p with
    /// u = t/(α+T), k = r + x and p ~ Beta(a, b + x) (given p, the purchase
    /// rate λ ~ Gamma(r + x, α + T) of a live customer makes E[(1 − e^(−λpt))/p]
    /// exactly g(p)). For a concentrated Beta: g(m) + ½·g''(m)·Var(p).
    fn expected_if_alive_concentrated(&self, a: f64, t: f64, xf: f64, big_t: f64) -> f64 {
        let n = a + self.b + xf;
        let m = a / n;
        let var = m * (1.0 - m) / (n + 1.0);
        let u = t / (self.alpha + big_t);
        let k = self.r + xf;
        let q = (m * u).ln_1p(); // ln(1 + m·u)
        let h = -(-k * q).exp_m1(); // 1 − (1 + mu)^(−k)
        let h1 = k * u * (-(k + 1.0) * q).exp();
        let h2 = -k * (k + 1.0) * u * u * (-(k + 2.0) * q).exp();
        let g = h / m;
        let g2 = h2 / m - 2.0 * h1 / (m * m) + 2.0 * h / (m * m * m);
        g + 0.5 * g2 * var
    }
}

/// A prediction horizon: finite and >= 0.
fn horizon(t: f64) -> Result<()> {
    finite("t", t)?;
    if t < 0.0 {
        return Err(ForecastError::InvalidInput(format!(
            "t must be >= 0, got {t}"
        )));
    }
    Ok(())
}

/// The last guard against NaN or ±∞ leaving a prediction.
pub(crate) fn finite_output(v: f64) -> Result<f64> {
    if v.is_finite() {
        Ok(v.max(0.0))
    } else {
        Err(ForecastError::NonFiniteResult(format!(
            "prediction evaluated to {v}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(a: f64, b: f64) -> BgNbdParams {
        BgNbdParams {
            r: 0.6,
            alpha: 12.0,
            a,
            b,
        }
    }

    /// Where the exact 2F1 path still converges, the expansion agrees with it.
    #[test]
    fn the_concentrated_expansion_agrees_with_the_exact_formula() {
        let p = params(2_500.0, 5_000.0);
        for (x, t_x, big_t) in [(0u32, 0.0, 100.0), (3, 80.0, 100.0), (12, 300.0, 400.0)] {
            for t in [30.0, 365.0, 1_095.0] {
                let exact = p.expected_if_alive(p.a, t, x as f64, big_t).unwrap();
                let approx = p.expected_if_alive_concentrated(p.a, t, x as f64, big_t);
                let rel = (approx - exact).abs() / exact;
                assert!(
                    rel < 1e-6,
                    "x={x} t_x={t_x} T={big_t} t={t}: {approx} vs {exact}"
                );
            }
        }
    }

    /// A fit with a, b in the millions (p is a point mass) predicts finitely
    /// (the 2F1 series would need millions of terms) and as the fixed-p model does.
    #[test]
    fn huge_beta_parameters_predict_like_a_fixed_dropout() {
        let p = params(4.7e6, 8.7e6);
        for month in 1..=36 {
            let t = month as f64 * 30.4375;
            let e = p.conditional_expected_purchases(t, 2, 50.0, 900.0).unwrap();
            let m = p.a / (p.a + p.b + 2.0);
            let fixed = -(-(p.r + 2.0) * (m * t / (p.alpha + 900.0)).ln_1p()).exp_m1() / m
                * p.p_alive(2, 50.0, 900.0).unwrap();
            assert!(
                (e - fixed).abs() <= 1e-6 * fixed,
                "month {month}: {e} vs {fixed}"
            );
        }
    }
}

//! Maximum-likelihood fit of the Gamma-Gamma spend model over unique
//! (x, m̄) pairs, on θ = ln(p, q, γ) with the same optimiser as BG/NBD.

use super::error::{ForecastError, Result};
use super::fit::{multi_start, FitOptions, FitReport};
use super::gamma_gamma::GammaGammaParams;
use super::special::{digamma, ln_gamma};
use super::summary::Triples;

struct Objective<'a> {
    data: &'a Triples,
    penalizer: f64,
    n: f64,
}

impl Objective<'_> {
    /// Total log-likelihood and gradient in (p, q, γ); the gamma functions
    /// depend on x only and are evaluated once per distinct x.
    fn log_likelihood(&self, g: &GammaGammaParams, grad: &mut [f64; 3]) -> f64 {
        let GammaGammaParams { p, q, gamma } = *g;
        let (ln_gamma_v, lg_q, dg_q) = (gamma.ln(), ln_gamma(q), digamma(q));
        let mut ll = 0.0;
        *grad = [0.0; 3];
        for &(x, start, end) in &self.data.spend_groups {
            let (xf, px) = (x as f64, p * x as f64);
            let ln_x = xf.ln();
            let (dg_pxq, dg_px) = (digamma(px + q), digamma(px));
            let c = ln_gamma(px + q) - ln_gamma(px) - lg_q + q * ln_gamma_v + px * ln_x;
            let (mut s_w, mut s_ll, mut s_lnm, mut s_lnd, mut s_inv) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for row in &self.data.spend[start..end] {
                let w = row.count;
                let d = gamma + xf * row.m;
                let ln_d = d.ln();
                s_w += w;
                s_ll += w * ((px - 1.0) * row.ln_m - (px + q) * ln_d);
                s_lnm += w * row.ln_m;
                s_lnd += w * ln_d;
                s_inv += w / d;
            }
            ll += s_w * c + s_ll;
            grad[0] += xf * (s_w * (dg_pxq - dg_px + ln_x) + s_lnm - s_lnd);
            grad[1] += s_w * (dg_pxq - dg_q + ln_gamma_v) - s_lnd;
            grad[2] += s_w * q / gamma - (px + q) * s_inv;
        }
        ll
    }

    fn eval(&self, theta: &[f64; 3], grad: &mut [f64; 3]) -> f64 {
        let [p, q, gamma] = theta.map(f64::exp);
        let mut g = [0.0; 3];
        let ll = self.log_likelihood(&GammaGammaParams { p, q, gamma }, &mut g);
        let natural = [p, q, gamma];
        for i in 0..3 {
            grad[i] = -natural[i] * g[i] / self.n + 2.0 * self.penalizer * natural[i].powi(2);
        }
        -ll / self.n + self.penalizer * (p * p + q * q + gamma * gamma)
    }
}

/// Total Gamma-Gamma log-likelihood of the spend sample at `params`.
pub fn total_spend_log_likelihood(params: &GammaGammaParams, data: &Triples) -> Result<f64> {
    params.validate()?;
    let obj = Objective {
        data,
        penalizer: 0.0,
        n: 1.0,
    };
    let ll = obj.log_likelihood(params, &mut [0.0; 3]);
    if ll.is_finite() {
        Ok(ll)
    } else {
        Err(ForecastError::NonFiniteLikelihood(format!("at {params:?}")))
    }
}

/// Fits p, q, γ on the customers with x > 0 and m̄ > 0.
///
/// Starts: p = 1, q = 3, γ = 2·mean(m̄) (matches the sample mean spend,
/// pγ/(q−1)), then the `lifetimes` start (every log-parameter 0.1).
pub fn fit_gamma_gamma(
    data: &Triples,
    options: &FitOptions,
) -> Result<FitReport<GammaGammaParams>> {
    options.validate()?;
    if data.n_customers() == 0 {
        return Err(ForecastError::NoData);
    }
    if data.n_spend_customers() == 0 {
        return Err(ForecastError::NoRepeatBuyers);
    }
    let n = data.n_spend_customers() as f64;
    let obj = Objective {
        data,
        penalizer: options.penalizer_coef,
        n,
    };
    let mean_m = data.spend.iter().map(|r| r.count * r.m).sum::<f64>() / n;
    let starts = [[0.0, 3f64.ln(), (2.0 * mean_m).ln()], [0.1; 3]];
    let out = multi_start(
        |th: &[f64; 3], g: &mut [f64; 3]| obj.eval(th, g),
        &starts,
        options,
    )?;
    let [p, q, gamma] = out.x.map(f64::exp);
    let params = GammaGammaParams { p, q, gamma };
    Ok(FitReport {
        log_likelihood: total_spend_log_likelihood(&params, data)?,
        params,
        iterations: out.iterations,
        converged: out.converged,
        n_customers: data.n_spend_customers(),
        n_unique: data.n_unique_spend(),
        message: out.message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_central_differences() {
        let data = Triples::from_customers([
            (1, 2.0, 30.0, 5.0),
            (1, 2.0, 30.0, 5.0),
            (4, 28.0, 30.0, 12.5),
            (4, 9.0, 25.0, 3.0),
            (17, 20.0, 21.0, 40.0),
        ])
        .unwrap();
        for penalizer in [0.0, 0.2] {
            let obj = Objective {
                data: &data,
                penalizer,
                n: 5.0,
            };
            let theta = [0.8, 1.1, 2.0];
            let mut g = [0.0; 3];
            obj.eval(&theta, &mut g);
            for i in 0..3 {
                let h = 1e-6;
                let (mut up, mut down) = (theta, theta);
                up[i] += h;
                down[i] -= h;
                let numeric =
                    (obj.eval(&up, &mut [0.0; 3]) - obj.eval(&down, &mut [0.0; 3])) / (2.0 * h);
                assert!(
                    (g[i] - numeric).abs() < 1e-7 * numeric.abs().max(1.0),
                    "∂θ{i}: {} vs {numeric}",
                    g[i]
                );
            }
            let p = GammaGammaParams {
                p: 0.8f64.exp(),
                q: 1.1f64.exp(),
                gamma: 2f64.exp(),
            };
            let direct: f64 = data
                .spend_rows()
                .iter()
                .map(|r| r.count * p.log_likelihood(r.x, r.m).unwrap())
                .sum();
            let grouped = total_spend_log_likelihood(&p, &data).unwrap();
            assert!((direct - grouped).abs() < 1e-12 * direct.abs());
        }
    }

    #[test]
    fn no_repeat_buyers_is_its_own_error() {
        let opts = FitOptions::default();
        let empty = Triples::from_customers(std::iter::empty()).unwrap();
        assert_eq!(fit_gamma_gamma(&empty, &opts), Err(ForecastError::NoData));
        let only_new = Triples::from_customers([(0, 0.0, 10.0, 0.0), (0, 0.0, 20.0, 0.0)]).unwrap();
        assert_eq!(
            fit_gamma_gamma(&only_new, &opts),
            Err(ForecastError::NoRepeatBuyers)
        );
        // Repeat buyers whose net spend is 0 (refunds) are not a spend sample either.
        let refunded =
            Triples::from_customers([(2, 5.0, 10.0, 0.0), (1, 5.0, 10.0, -3.0)]).unwrap();
        assert_eq!(
            fit_gamma_gamma(&refunded, &opts),
            Err(ForecastError::NoRepeatBuyers)
        );
    }
}

//! Maximum-likelihood fit of the BG/NBD model over unique histories.
//!
//! The optimiser works on θ = ln(r, α/s, a, b) with s the largest T, which
//! is what `lifetimes` does: logs keep the parameters positive, and measuring
//! α in units of the observation window makes the start and the penalty
//! independent of whether time is in days or weeks. The likelihood itself
//! is always evaluated in the caller's time unit.

use super::bgnbd::BgNbdParams;
use super::error::{ForecastError, Result};
use super::fit::{multi_start, FitOptions, FitReport};
use super::special::{digamma, ln_gamma};
use super::summary::Triples;

/// The penalised mean negative log-likelihood and its gradient in θ.
struct Objective<'a> {
    data: &'a Triples,
    scale: f64,
    penalizer: f64,
    n: f64,
}

impl Objective<'_> {
    fn params(&self, theta: &[f64; 4]) -> BgNbdParams {
        let [r, alpha_s, a, b] = theta.map(f64::exp);
        BgNbdParams {
            r,
            alpha: alpha_s * self.scale,
            a,
            b,
        }
    }

    /// Total log-likelihood and its gradient in the natural parameters
    /// (r, α, a, b), in one pass. Terms depending on x alone are computed
    /// once per distinct x; per history only two logs, one exp and one
    /// log1p remain.
    fn log_likelihood(&self, p: &BgNbdParams, grad: &mut [f64; 4]) -> f64 {
        let BgNbdParams { r, alpha, a, b } = *p;
        let (ln_alpha, ln_a) = (alpha.ln(), a.ln());
        let (lg_r, lg_b, lg_ab) = (ln_gamma(r), ln_gamma(b), ln_gamma(a + b));
        let (dg_r, dg_b, dg_ab) = (digamma(r), digamma(b), digamma(a + b));
        let mut ll = 0.0;
        *grad = [0.0; 4];
        for &(x, start, end) in &self.data.groups {
            let xf = x as f64;
            let rx = r + xf;
            // Per-x constant: ln Γ(r+x)/Γ(r) + r ln α + ln B(a, b+x)/B(a, b).
            let (dg_rx, dg_bx, dg_abx) = (digamma(rx), digamma(b + xf), digamma(a + b + xf));
            let c = ln_gamma(rx) - lg_r + r * ln_alpha + lg_ab + ln_gamma(b + xf)
                - lg_b
                - ln_gamma(a + b + xf);
            let c4 = ln_a - (b + xf - 1.0).ln();
            let (mut s_ll, mut s_w, mut s_dr, mut s_dalpha, mut s_w4) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for row in &self.data.rows[start..end] {
                let w = row.count;
                s_w += w;
                let l_t = (alpha + row.t).ln();
                let l3 = -rx * l_t;
                if x == 0 {
                    s_ll += w * l3;
                    s_dr -= w * l_t;
                    s_dalpha -= w * rx / (alpha + row.t);
                    continue;
                }
                // ln(e^l3 + e^l4) and the weight of each branch (alive at
                // T vs. dropped out after the last purchase).
                let l_tx = (alpha + row.t_x).ln();
                let l4 = c4 - rx * l_tx;
                let (hi, e) = if l3 >= l4 {
                    (l3, (l4 - l3).exp())
                } else {
                    (l4, (l3 - l4).exp())
                };
                let w_small = e / (1.0 + e);
                let w4 = if l3 >= l4 { w_small } else { 1.0 - w_small };
                let w3 = 1.0 - w4;
                s_ll += w * (hi + e.ln_1p());
                s_dr -= w * (w3 * l_t + w4 * l_tx);
                s_dalpha -= w * rx * (w3 / (alpha + row.t) + w4 / (alpha + row.t_x));
                s_w4 += w * w4;
            }
            ll += s_w * c + s_ll;
            grad[0] += s_w * (dg_rx - dg_r + ln_alpha) + s_dr;
            grad[1] += s_w * r / alpha + s_dalpha;
            grad[2] += s_w * (dg_ab - dg_abx) + s_w4 / a;
            grad[3] += s_w * (dg_ab + dg_bx - dg_b - dg_abx) - s_w4 / (b + xf - 1.0);
        }
        ll
    }

    /// −LL/n + penalizer·|(r, α/s, a, b)|², gradient with respect to θ.
    fn eval(&self, theta: &[f64; 4], grad: &mut [f64; 4]) -> f64 {
        let p = self.params(theta);
        let mut g = [0.0; 4];
        let ll = self.log_likelihood(&p, &mut g);
        let natural = [p.r, p.alpha, p.a, p.b];
        let internal = theta.map(f64::exp);
        let mut pen = 0.0;
        for i in 0..4 {
            // d/dθᵢ = (natural value)·d/d(natural); exp(θ₁) = α/s.
            grad[i] = -natural[i] * g[i] / self.n + 2.0 * self.penalizer * internal[i].powi(2);
            pen += internal[i].powi(2);
        }
        -ll / self.n + self.penalizer * pen
    }
}

/// Total BG/NBD log-likelihood of all histories at `params` (the paper's
/// eq. 6 summed with the counts as weights).
pub fn total_log_likelihood(params: &BgNbdParams, data: &Triples) -> Result<f64> {
    params.validate()?;
    let obj = Objective {
        data,
        scale: 1.0,
        penalizer: 0.0,
        n: 1.0,
    };
    let ll = obj.log_likelihood(params, &mut [0.0; 4]);
    if ll.is_finite() {
        Ok(ll)
    } else {
        Err(ForecastError::NonFiniteLikelihood(format!("at {params:?}")))
    }
}

/// Fits r, α, a, b by maximum likelihood; starts like `lifetimes` (every
/// internal log-parameter 0.1), then, if that does not converge, from a
/// moment-based start.
pub fn fit_bgnbd(data: &Triples, options: &FitOptions) -> Result<FitReport<BgNbdParams>> {
    fit(data, options, None)
}

/// Same as [`fit_bgnbd`] but starting at `start` (e.g. yesterday's fit).
pub fn fit_bgnbd_from(
    data: &Triples,
    options: &FitOptions,
    start: &BgNbdParams,
) -> Result<FitReport<BgNbdParams>> {
    start.validate()?;
    fit(data, options, Some(start))
}

fn fit(
    data: &Triples,
    options: &FitOptions,
    start: Option<&BgNbdParams>,
) -> Result<FitReport<BgNbdParams>> {
    options.validate()?;
    if data.n_customers() == 0 {
        return Err(ForecastError::NoData);
    }
    // A window of length 0 (everyone acquired at the cut-off) has no time
    // scale and no information about rates.
    if data.max_t() <= 0.0 {
        return Err(ForecastError::InvalidInput(
            "every customer has T = 0".into(),
        ));
    }
    let obj = Objective {
        data,
        scale: data.max_t(),
        penalizer: options.penalizer_coef,
        n: data.n_customers() as f64,
    };
    let internal = |p: &BgNbdParams| [p.r, p.alpha / obj.scale, p.a, p.b].map(f64::ln);
    let mut starts = Vec::with_capacity(3);
    if let Some(p) = start {
        starts.push(internal(p));
    }
    starts.push([0.1; 4]);
    // Moment-based: r = 1 and r/α = the mean purchase rate Σx / ΣT.
    let (sx, st) = data.rows.iter().fold((0.0, 0.0), |(sx, st), row| {
        (sx + row.count * row.x as f64, st + row.count * row.t)
    });
    let rate = if sx > 0.0 {
        sx / st
    } else {
        1.0 / data.max_t()
    };
    starts.push(internal(&BgNbdParams {
        r: 1.0,
        alpha: 1.0 / rate,
        a: 1.0,
        b: 3.0,
    }));
    let out = multi_start(
        |th: &[f64; 4], g: &mut [f64; 4]| obj.eval(th, g),
        &starts,
        options,
    )?;
    let params = obj.params(&out.x);
    Ok(FitReport {
        log_likelihood: total_log_likelihood(&params, data)?,
        params,
        iterations: out.iterations,
        converged: out.converged,
        n_customers: data.n_customers(),
        n_unique: data.n_unique(),
        message: out.message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Triples {
        Triples::from_customers([
            (0, 0.0, 30.0, 0.0),
            (0, 0.0, 12.0, 0.0),
            (1, 2.0, 30.0, 5.0),
            (4, 28.0, 30.0, 5.0),
            (4, 9.0, 25.0, 5.0),
            (17, 20.0, 21.0, 5.0),
        ])
        .unwrap()
    }

    /// The analytic gradient against central differences of the objective.
    #[test]
    fn gradient_matches_central_differences() {
        let data = data();
        for penalizer in [0.0, 0.3] {
            let obj = Objective {
                data: &data,
                scale: data.max_t(),
                penalizer,
                n: 6.0,
            };
            let theta = [-0.7, -1.3, 0.2, 0.9];
            let mut g = [0.0; 4];
            obj.eval(&theta, &mut g);
            for i in 0..4 {
                let h = 1e-6;
                let (mut up, mut down) = (theta, theta);
                up[i] += h;
                down[i] -= h;
                let numeric =
                    (obj.eval(&up, &mut [0.0; 4]) - obj.eval(&down, &mut [0.0; 4])) / (2.0 * h);
                assert!(
                    (g[i] - numeric).abs() < 1e-7 * numeric.abs().max(1.0),
                    "∂θ{i}: {} vs {numeric}",
                    g[i]
                );
            }
        }
    }

    /// The grouped one-pass likelihood equals the sum of per-customer ones.
    #[test]
    fn grouped_likelihood_equals_per_customer_sum() {
        let p = BgNbdParams::new(0.4, 3.0, 0.7, 2.0).unwrap();
        let data = data();
        let direct: f64 = data
            .rows()
            .iter()
            .map(|r| r.count * p.log_likelihood(r.x, r.t_x, r.t).unwrap())
            .sum();
        let grouped = total_log_likelihood(&p, &data).unwrap();
        assert!((direct - grouped).abs() < 1e-12 * direct.abs());
    }

    #[test]
    fn empty_and_degenerate_data_are_errors() {
        let empty = Triples::from_customers(std::iter::empty()).unwrap();
        assert_eq!(
            fit_bgnbd(&empty, &FitOptions::default()),
            Err(ForecastError::NoData)
        );
        let zero_window = Triples::from_customers([(0, 0.0, 0.0, 0.0)]).unwrap();
        assert!(matches!(
            fit_bgnbd(&zero_window, &FitOptions::default()),
            Err(ForecastError::InvalidInput(_))
        ));
        let bad = FitOptions {
            penalizer_coef: -1.0,
            ..FitOptions::default()
        };
        assert!(matches!(
            fit_bgnbd(&data(), &bad),
            Err(ForecastError::InvalidInput(_))
        ));
    }
}

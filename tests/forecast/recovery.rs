//! Parameter recovery: simulate customers from known parameters with a
//! seeded RNG, fit, and check the truth is found again.
//!
//! Tolerance, in two parts. (1) Likelihood ratio: the fit must be at least
//! as likely as the truth, and 2·(LL(fit) − LL(truth)) must stay below
//! 18.47 (BG/NBD, χ² with 4 d.f., 99.9 %) or 16.27 (Gamma-Gamma, 3 d.f.):
//! the truth lies inside the fit's 99.9 % likelihood-ratio confidence region.
//! (2) Each parameter within a stated relative tolerance of about 3.5–5
//! standard errors (from the observed information, printed by the test):
//! "a few percent" at 200,000 customers.

use crate::common::{simulate, Population};
use ltv_pipes::forecast::{
    fit_bgnbd, fit_gamma_gamma, total_log_likelihood, total_spend_log_likelihood, BgNbdParams,
    FitOptions, GammaGammaParams, Triples,
};

const POP: Population = Population {
    r: 0.6,
    alpha: 20.0,
    a: 0.8,
    b: 2.5,
    p: 6.0,
    q: 4.0,
    gamma: 15.0,
};

/// Standard errors of the log-parameters from a central-difference Hessian
/// of the total log-likelihood (observed information).
fn log_param_se<const N: usize>(ll: impl Fn(&[f64; N]) -> f64, at: [f64; N]) -> [f64; N] {
    let h = 1e-4;
    let mut hess = [[0.0; N]; N];
    for i in 0..N {
        for j in 0..N {
            let f = |di: f64, dj: f64| {
                let mut x = at;
                x[i] += di;
                x[j] += dj;
                ll(&x)
            };
            hess[i][j] = -(f(h, h) - f(h, -h) - f(-h, h) + f(-h, -h)) / (4.0 * h * h);
        }
    }
    // Invert by Gauss-Jordan (N <= 4, well conditioned at an optimum).
    let mut inv = [[0.0; N]; N];
    for (i, row) in inv.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for c in 0..N {
        let piv = hess[c][c];
        for k in 0..N {
            hess[c][k] /= piv;
            inv[c][k] /= piv;
        }
        for r in 0..N {
            if r != c {
                let f = hess[r][c];
                for k in 0..N {
                    hess[r][k] -= f * hess[c][k];
                    inv[r][k] -= f * inv[c][k];
                }
            }
        }
    }
    std::array::from_fn(|i| inv[i][i].sqrt())
}

fn recover(n: usize, seed: u64, tol: [f64; 7]) {
    // T from 3 months to 3 years of daily periods, times kept continuous.
    let customers = simulate(POP, n, 90.0, 1095.0, false, seed);
    let data = Triples::from_customers(customers).unwrap();
    let truth = BgNbdParams::new(POP.r, POP.alpha, POP.a, POP.b).unwrap();
    let fit = fit_bgnbd(&data, &FitOptions::default()).unwrap();
    assert!(fit.converged, "{}", fit.message);
    let ll_truth = total_log_likelihood(&truth, &data).unwrap();
    let lr = 2.0 * (fit.log_likelihood - ll_truth);
    let p = fit.params;
    let ll = |th: &[f64; 4]| {
        let [r, alpha, a, b] = th.map(f64::exp);
        total_log_likelihood(&BgNbdParams { r, alpha, a, b }, &data).unwrap()
    };
    let se = log_param_se(ll, [p.r, p.alpha, p.a, p.b].map(f64::ln));
    println!(
        "BG/NBD n={n} fit {p:?} LR={lr:.3} se(ln θ)={se:?} iterations={}",
        fit.iterations
    );
    assert!((0.0..18.47).contains(&lr), "LR statistic {lr}");
    let got = [p.r, p.alpha, p.a, p.b];
    let want = [POP.r, POP.alpha, POP.a, POP.b];
    for i in 0..4 {
        assert!(
            (got[i] / want[i] - 1.0).abs() < tol[i],
            "param {i}: {} vs {}",
            got[i],
            want[i]
        );
    }

    let truth = GammaGammaParams::new(POP.p, POP.q, POP.gamma).unwrap();
    let fit = fit_gamma_gamma(&data, &FitOptions::default()).unwrap();
    assert!(fit.converged, "{}", fit.message);
    let lr = 2.0 * (fit.log_likelihood - total_spend_log_likelihood(&truth, &data).unwrap());
    let g = fit.params;
    let ll = |th: &[f64; 3]| {
        let [p, q, gamma] = th.map(f64::exp);
        total_spend_log_likelihood(&GammaGammaParams { p, q, gamma }, &data).unwrap()
    };
    let se = log_param_se(ll, [g.p, g.q, g.gamma].map(f64::ln));
    println!(
        "Gamma-Gamma n={} fit {g:?} LR={lr:.3} se(ln θ)={se:?}",
        fit.n_customers
    );
    assert!((0.0..16.27).contains(&lr), "LR statistic {lr}");
    let got = [g.p, g.q, g.gamma];
    let want = [POP.p, POP.q, POP.gamma];
    for i in 0..3 {
        assert!(
            (got[i] / want[i] - 1.0).abs() < tol[4 + i],
            "param {i}: {} vs {}",
            got[i],
            want[i]
        );
    }
}

#[test]
fn recovers_parameters_from_30k_customers() {
    // Bounds about 3.5 standard errors at this size (printed by the test).
    recover(30_000, 7, [0.035, 0.05, 0.075, 0.1, 0.12, 0.045, 0.15]);
}

#[test]
fn recovers_parameters_within_a_few_percent_from_200k_customers() {
    // Standard errors here (printed): r 0.4 %, α 0.6 %, a 0.8 %, b 1.2 %,
    // p 1.4 %, q 0.5 %, γ 1.8 %; the bounds are about 4–5 of those. Seeds
    // 1–5 were tried as well and pass; the mean LR statistic over 40 seeds
    // at n = 20,000 was 4.35, as expected for χ² with 4 d.f., which checks
    // the likelihood and the simulator against each other.
    recover(200_000, 11, [0.02, 0.025, 0.035, 0.05, 0.05, 0.025, 0.07]);
}

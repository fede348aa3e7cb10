//! Degenerate and extreme inputs: every prediction is a finite number or an
//! error, never NaN.

use ltv_pipes::forecast::{
    fit_bgnbd, fit_gamma_gamma, forecast_customer, predicted_clv, BgNbdParams, ClvSettings,
    FitOptions, ForecastError, GammaGammaParams, Triples,
};

/// Daily-scale parameters in the range real shops produce.
fn bg() -> BgNbdParams {
    BgNbdParams::new(0.5, 30.0, 0.8, 2.5).unwrap()
}

fn all_predictions_finite(p: &BgNbdParams, x: u32, t_x: f64, t: f64) {
    let alive = p.p_alive(x, t_x, t).unwrap();
    assert!((0.0..=1.0).contains(&alive), "p_alive {alive}");
    for horizon in [0.0, 1.0, 30.4375, 365.25, 3652.5] {
        let e = p
            .conditional_expected_purchases(horizon, x, t_x, t)
            .unwrap();
        assert!(
            e.is_finite() && e >= 0.0,
            "E[Y({horizon})] = {e} for x={x}, t_x={t_x}, T={t}"
        );
    }
    let clv = predicted_clv(p, 20.0, x, t_x, t, &ClvSettings::default()).unwrap();
    assert!(clv.is_finite() && clv >= 0.0);
}

#[test]
fn everyone_with_frequency_zero_fits_to_a_finite_boundary_or_errors_for_spend() {
    // With no repeat purchase anywhere the MLE sits on the boundary (rate →
    // 0): the fit must not panic or produce NaN, and the spend model must
    // say clearly that it has nothing to learn from.
    let data = Triples::from_customers((1..=200).map(|d| (0, 0.0, d as f64, 0.0))).unwrap();
    let report = fit_bgnbd(&data, &FitOptions::default()).unwrap();
    let p = report.params;
    assert!(
        [p.r, p.alpha, p.a, p.b, report.log_likelihood]
            .iter()
            .all(|v| v.is_finite()),
        "{report:?}"
    );
    assert!(
        p.r / p.alpha < 1e-3,
        "fitted purchase rate should collapse towards 0: {p:?}"
    );
    assert_eq!(
        fit_gamma_gamma(&data, &FitOptions::default()),
        Err(ForecastError::NoRepeatBuyers)
    );
    // A penalty keeps the parameters away from the boundary, as in lifetimes.
    let pen = fit_bgnbd(
        &data,
        &FitOptions {
            penalizer_coef: 0.1,
            ..FitOptions::default()
        },
    )
    .unwrap();
    assert!(pen.converged, "{}", pen.message);
}

#[test]
fn a_single_customer_gives_a_finite_result() {
    let data = Triples::from_customers([(3, 40.0, 100.0, 12.0)]).unwrap();
    let report = fit_bgnbd(&data, &FitOptions::default()).unwrap();
    assert_eq!((report.n_customers, report.n_unique), (1, 1));
    let p = report.params;
    assert!([p.r, p.alpha, p.a, p.b, report.log_likelihood]
        .iter()
        .all(|v| v.is_finite() && *v != 0.0));
    let gg = fit_gamma_gamma(&data, &FitOptions::default()).unwrap();
    assert!(gg.log_likelihood.is_finite());
}

#[test]
fn extreme_histories_never_give_nan() {
    let p = bg();
    all_predictions_finite(&p, 0, 0.0, 0.0); // acquired today
    all_predictions_finite(&p, 0, 0.0, 1e5); // huge T
    all_predictions_finite(&p, 5, 1e5, 1e5); // recency = T, huge
    all_predictions_finite(&p, 1, 0.0, 10.0); // repeat on the first day
    all_predictions_finite(&p, 500, 1000.0, 1000.0); // x large, still active
    all_predictions_finite(&p, 500, 3.0, 1000.0); // x large, long gone
    all_predictions_finite(&p, 100_000, 1e5, 1e5);
    // Parameters at awkward values: a = 1 exactly (0/0 in eq. 10), a + b = 1
    // (c = 0 pole for x = 0), tiny and huge r.
    for q in [
        (0.5, 30.0, 1.0, 2.0),
        (0.5, 30.0, 0.4, 0.6),
        (1e-4, 30.0, 0.8, 2.5),
        (200.0, 3.0, 5.0, 0.1),
    ] {
        let p = BgNbdParams::new(q.0, q.1, q.2, q.3).unwrap();
        all_predictions_finite(&p, 0, 0.0, 365.0);
        all_predictions_finite(&p, 7, 300.0, 365.0);
    }
}

#[test]
fn a_equal_to_one_is_the_limit_of_its_neighbours() {
    let at = |a: f64| {
        BgNbdParams::new(0.5, 30.0, a, 2.0)
            .unwrap()
            .conditional_expected_purchases(365.0, 4, 200.0, 365.0)
            .unwrap()
    };
    let (left, mid, right) = (at(1.0 - 1e-3), at(1.0), at(1.0 + 1e-3));
    assert!(
        (mid - 0.5 * (left + right)).abs() < 1e-6 * mid,
        "{left} {mid} {right}"
    );
}

#[test]
fn invalid_input_is_an_error() {
    let p = bg();
    let invalid = |r: Result<f64, ForecastError>| matches!(r, Err(ForecastError::InvalidInput(_)));
    assert!(invalid(p.p_alive(2, 11.0, 10.0)), "recency > T");
    assert!(invalid(p.p_alive(2, f64::NAN, 10.0)));
    assert!(invalid(p.p_alive(2, -1.0, 10.0)));
    assert!(invalid(p.conditional_expected_purchases(
        f64::NAN,
        2,
        1.0,
        10.0
    )));
    assert!(invalid(
        p.conditional_expected_purchases(-1.0, 2, 1.0, 10.0)
    ));
    assert!(invalid(p.expected_purchases_new(f64::INFINITY)));
    assert!(BgNbdParams::new(0.0, 1.0, 1.0, 1.0).is_err());
    assert!(BgNbdParams::new(f64::NAN, 1.0, 1.0, 1.0).is_err());
    let bad = BgNbdParams {
        r: -1.0,
        alpha: 1.0,
        a: 1.0,
        b: 1.0,
    };
    assert!(
        invalid(bad.p_alive(1, 1.0, 2.0)),
        "public fields are checked on use"
    );
    assert!(GammaGammaParams::new(1.0, 1.0, -2.0).is_err());
    let gg = GammaGammaParams::new(6.0, 4.0, 15.0).unwrap();
    assert!(invalid(gg.conditional_expected_average_value(2, f64::NAN)));
    assert!(
        invalid(gg.log_likelihood(0, 10.0)),
        "the spend density needs x > 0"
    );
    let s = ClvSettings {
        discount_rate: -1.5,
        ..ClvSettings::default()
    };
    assert!(invalid(predicted_clv(&p, 10.0, 1, 1.0, 2.0, &s)));
    let s = ClvSettings {
        periods_per_month: 0.0,
        ..ClvSettings::default()
    };
    assert!(invalid(predicted_clv(&p, 10.0, 1, 1.0, 2.0, &s)));
}

#[test]
fn spend_without_a_finite_mean_is_an_error_not_infinity() {
    let gg = GammaGammaParams::new(6.0, 0.9, 15.0).unwrap();
    assert!(matches!(
        gg.population_mean(),
        Err(ForecastError::NonFiniteResult(_))
    ));
    // x = 0 falls back to the population mean, which does not exist here.
    assert!(gg.conditional_expected_average_value(0, 0.0).is_err());
    // A repeat buyer still has a finite posterior mean: p x + q − 1 > 0.
    assert!(gg
        .conditional_expected_average_value(2, 10.0)
        .unwrap()
        .is_finite());
}

#[test]
fn clv_follows_the_metrics_formula() {
    let p = bg();
    let gg = GammaGammaParams::new(6.0, 4.0, 15.0).unwrap();
    let s = ClvSettings {
        horizon_months: 24,
        discount_rate: 0.1,
        margin: 0.3,
        periods_per_month: 30.4375,
    };
    let f = forecast_customer(&p, &gg, 4, 300.0, 400.0, 25.0, &s).unwrap();
    // Recompute docs/METRICS.md's sum by hand.
    let d = 1.1f64.powf(1.0 / 12.0) - 1.0;
    let mut want = 0.0;
    for m in 1..=24 {
        let e = |k: u32| {
            p.conditional_expected_purchases(k as f64 * 30.4375, 4, 300.0, 400.0)
                .unwrap()
        };
        want += f.expected_avg_value * (e(m) - e(m - 1)) / (1.0 + d).powi(m as i32);
    }
    want *= 0.3;
    assert!(
        (f.predicted_clv - want).abs() < 1e-12 * want,
        "{} vs {want}",
        f.predicted_clv
    );
    assert_eq!(
        f.expected_purchases,
        p.conditional_expected_purchases(24.0 * 30.4375, 4, 300.0, 400.0)
            .unwrap()
    );
    assert_eq!(f.p_alive, p.p_alive(4, 300.0, 400.0).unwrap());
    // A zero horizon is worth nothing; no discounting means the plain product.
    let zero = ClvSettings {
        horizon_months: 0,
        ..s
    };
    assert_eq!(
        forecast_customer(&p, &gg, 4, 300.0, 400.0, 25.0, &zero)
            .unwrap()
            .predicted_clv,
        0.0
    );
    let flat = ClvSettings {
        discount_rate: 0.0,
        ..s
    };
    let f0 = forecast_customer(&p, &gg, 4, 300.0, 400.0, 25.0, &flat).unwrap();
    assert!(
        (f0.predicted_clv - 0.3 * f0.expected_avg_value * f0.expected_purchases).abs()
            < 1e-12 * f0.predicted_clv
    );
}

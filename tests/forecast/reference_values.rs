//! Likelihoods and predictions at fixed parameters against numbers computed
//! independently in Python. Unless said otherwise the reference numbers come
//! from lifetimes 0.11.3 (its BetaGeoFitter/GammaGammaFitter methods, with
//! `params_` set by hand), as printed by tests/reference/lifetimes_reference.py
//! (output kept beside it in lifetimes_reference.out).

// Reference digits are kept exactly as Python printed them.

use crate::common;

use ltv_pipes::forecast::{
    predicted_clv, total_log_likelihood, total_spend_log_likelihood, BgNbdParams, ClvSettings,
    GammaGammaParams,
};

/// The paper's CDNOW estimates, used as fixed evaluation points.
fn bg() -> BgNbdParams {
    BgNbdParams::new(0.243, 4.414, 0.793, 2.426).unwrap()
}
fn gg() -> GammaGammaParams {
    GammaGammaParams::new(6.25, 3.74, 15.44).unwrap()
}

#[track_caller]
fn assert_rel(got: f64, want: f64, rel: f64) {
    assert!(
        (got - want).abs() <= rel * want.abs(),
        "got {got}, want {want} (relative error {:e})",
        ((got - want) / want).abs()
    );
}

#[test]
fn bgnbd_log_likelihood_matches_lifetimes_per_customer() {
    // lifetimes BetaGeoFitter._negative_log_likelihood on unscaled weeks, n = 1.
    let cases = [
        ((0, 0.0, 38.86), -0.5547132764381585),
        ((2, 30.43, 38.86), -9.45860630706627),
        ((1, 1.71, 38.86), -4.469093275032588),
        ((29, 37.71, 38.0), -43.86951405362069),
        ((1, 38.43, 38.43), -5.724546033432456),
    ];
    for ((x, t_x, t), want) in cases {
        assert_rel(bg().log_likelihood(x, t_x, t).unwrap(), want, 1e-12);
    }
}

#[test]
fn bgnbd_total_log_likelihood_on_cdnow_matches_lifetimes_and_the_paper() {
    // lifetimes: −9582.426831182365; the paper reports −9582.4.
    let ll = total_log_likelihood(&bg(), &common::cdnow_triples()).unwrap();
    assert_rel(ll, -9582.426831182365, 1e-12);
}

#[test]
fn gamma_gamma_log_likelihood_matches_lifetimes() {
    // lifetimes GammaGammaFitter._negative_log_likelihood, n = 1, and the
    // total over CDNOW's 946 repeat buyers.
    for ((x, m), want) in [
        ((1, 11.77), -3.737709678740835),
        ((2, 22.35), -3.551316759731691),
        ((29, 26.26), -3.5604573876341874),
    ] {
        assert_rel(gg().log_likelihood(x, m).unwrap(), want, 1e-12);
    }
    let data = common::cdnow_triples();
    assert_eq!(data.n_spend_customers(), 946);
    assert_rel(
        total_spend_log_likelihood(&gg(), &data).unwrap(),
        -4055.9247127301624,
        1e-12,
    );
}

/// (id, p_alive, E[Y(39)], E[Y(52)], E[M | x, m̄], CLV) for CDNOW customers
/// with x = 0, x large, recency = T; CLV from lifetimes'
/// customer_lifetime_value(time=12, discount_rate=0.01, freq="W").
const CDNOW_PREDICTIONS: [(u32, f64, f64, f64, f64, f64); 7] = [
    (
        1,
        0.726578570080673,
        1.2260281747671318,
        1.5587208064320972,
        24.663713910761157,
        36.28921112559936,
    ),
    (
        2,
        0.2121009853773791,
        0.2031869870797511,
        0.2598234648686216,
        18.91685205784205,
        4.637294659747194,
    ),
    (
        3,
        1.0,
        0.19509805201125396,
        0.2520730222824504,
        35.21897810218978,
        8.369004358920185,
    ),
    (
        59,
        0.753650201926064,
        0.7282630731533964,
        0.9309944365137297,
        15.246106785317021,
        13.392271750960736,
    ),
    (
        157,
        0.9691295181593396,
        20.052948986498027,
        25.060320828083885,
        26.39341812055003,
        625.3341503463337,
    ),
    (
        720,
        0.9139819937086451,
        5.141224573946617,
        6.446130947296475,
        15.815229081522908,
        96.35416555934678,
    ),
    (
        1516,
        0.968915649717525,
        20.749726140857142,
        25.758195936482593,
        39.89121883321229,
        972.101051487771,
    ),
];

#[test]
fn predictions_on_cdnow_customers_match_lifetimes() {
    let customers = common::cdnow();
    // lifetimes' CLV: 4.345 weeks per month, monthly discount 0.01, which is
    // docs/METRICS.md's formula with discount_rate = 1.01^12 − 1.
    let settings = ClvSettings {
        horizon_months: 12,
        discount_rate: 1.01f64.powi(12) - 1.0,
        margin: 1.0,
        periods_per_month: 4.345,
    };
    assert_rel(settings.monthly_discount(), 0.01, 1e-13);
    for (id, p_alive, e39, e52, ev, clv) in CDNOW_PREDICTIONS {
        let c = customers.iter().find(|c| c.id == id).unwrap();
        assert_rel(bg().p_alive(c.x, c.t_x, c.t).unwrap(), p_alive, 1e-12);
        assert_rel(
            bg().conditional_expected_purchases(39.0, c.x, c.t_x, c.t)
                .unwrap(),
            e39,
            1e-11,
        );
        assert_rel(
            bg().conditional_expected_purchases(52.0, c.x, c.t_x, c.t)
                .unwrap(),
            e52,
            1e-11,
        );
        let value = gg().conditional_expected_average_value(c.x, c.m).unwrap();
        assert_rel(value, ev, 1e-13);
        assert_rel(
            predicted_clv(&bg(), value, c.x, c.t_x, c.t, &settings).unwrap(),
            clv,
            1e-10,
        );
    }
    // E[M] = pγ/(q−1).
    assert_rel(gg().population_mean().unwrap(), 35.21897810218978, 1e-14);
}

#[test]
fn unconditional_expectation_matches_lifetimes() {
    // lifetimes expected_number_of_purchases_up_to_time(t).
    for (t, want) in [
        (1.0, 0.05326789117165627),
        (39.0, 1.1967231933207985),
        (78.0, 1.8605190579427455),
        (520.0, 4.974617861849564),
    ] {
        assert_rel(bg().expected_purchases_new(t).unwrap(), want, 1e-11);
    }
}

#[test]
fn extreme_histories_match_high_precision_reference() {
    // mpmath (50 digits) evaluating the paper's eq. 10 and the P(alive)
    // formula directly, without the Euler transformation used in the code;
    // daily-scale parameters r=0.5, α=30, a=0.8, b=2.5.
    let p = BgNbdParams::new(0.5, 30.0, 0.8, 2.5).unwrap();
    let cases = [
        (
            (365.0, 500, 1000.0, 1000.0),
            156.33206507378804275,
            0.99840732629902448736,
        ),
        ((365.0, 0, 0.0, 1e5), 0.0018232437922977658498, 1.0),
        ((1095.75, 0, 0.0, 0.0), 5.02352740174752577, 1.0),
        (
            (365.0, 3, 1e5, 1e5),
            0.010832158917024737124,
            0.84905660377358490566,
        ),
        (
            (3652.5, 1, 10.0, 10.0),
            13.211843809455033747,
            0.75757575757575757576,
        ),
        (
            (36525.0, 2, 50.0, 60.0),
            31.975481663286390572,
            0.76520822533493600426,
        ),
    ];
    for ((t, x, t_x, big_t), e, alive) in cases {
        assert_rel(
            p.conditional_expected_purchases(t, x, t_x, big_t).unwrap(),
            e,
            1e-10,
        );
        assert_rel(p.p_alive(x, t_x, big_t).unwrap(), alive, 1e-12);
    }
    // x = 500 and silent for 997 days: the reference is 1.2e-743, below the
    // smallest double; the answer must be a clean 0, not NaN.
    assert_eq!(
        p.conditional_expected_purchases(365.0, 500, 3.0, 1000.0)
            .unwrap(),
        0.0
    );
    assert_eq!(p.p_alive(500, 3.0, 1000.0).unwrap(), 0.0);
}

#[test]
fn awkward_parameters_match_high_precision_reference() {
    // mpmath (50 digits), eq. 10 untransformed. r ≫ a + b makes the Euler
    // form cancel (the code falls back to the original series); a + b < 1
    // gives c < 0 for x = 0 (the formula still holds; a Monte Carlo run of
    // 2M customers agreed with eq. 7 there to 0.04 %).
    let cases = [
        (
            (200.0, 3.0, 5.0, 0.1),
            (3652.5, 0, 0.0, 365.0),
            1.0249999999999501923,
        ),
        (
            (200.0, 3.0, 5.0, 0.1),
            (365.0, 7, 300.0, 365.0),
            1.1422134015187721629e-17,
        ),
        (
            (0.5, 30.0, 0.3, 0.5),
            (365.0, 0, 0.0, 365.0),
            0.38271570946118448087,
        ),
        (
            (0.5, 30.0, 0.3, 0.5),
            (365.0, 2, 100.0, 365.0),
            0.48124196979286084639,
        ),
    ];
    for ((r, alpha, a, b), (t, x, t_x, big_t), want) in cases {
        let p = BgNbdParams::new(r, alpha, a, b).unwrap();
        assert_rel(
            p.conditional_expected_purchases(t, x, t_x, big_t).unwrap(),
            want,
            1e-9,
        );
    }
}

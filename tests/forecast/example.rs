//! The usage example from the module documentation, compiled and run.

use ltv_pipes::forecast::{
    fit_bgnbd, fit_gamma_gamma, forecast_customer, ClvSettings, FitOptions, ForecastError, Triples,
};

#[test]
fn module_doc_example_runs() -> Result<(), ForecastError> {
    let customers = [
        (0, 0.0, 300.0, 0.0),
        (3, 200.0, 300.0, 25.0),
        (1, 50.0, 100.0, 40.0),
        (5, 90.0, 120.0, 10.0),
    ];
    let data = Triples::from_customers(customers)?;
    let bg = fit_bgnbd(&data, &FitOptions::default())?;
    let gg = fit_gamma_gamma(&data, &FitOptions::default())?;
    let f = forecast_customer(
        &bg.params,
        &gg.params,
        3,
        200.0,
        300.0,
        25.0,
        &ClvSettings::default(),
    )?;
    assert!(f.predicted_clv.is_finite() && f.p_alive <= 1.0);
    let json = serde_json::to_value(&bg).unwrap();
    assert!(json["params"]["alpha"].is_number() && json["converged"].is_boolean());
    Ok(())
}

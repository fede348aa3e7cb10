//! The CPU part of a fit (both models, every customer's predictions) and the
//! COPY encoding of the predictions.

use super::*;

/// COPY text format escaping of one value.
pub(super) fn copy_escape(buf: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => buf.push_str("\\\\"),
            '\t' => buf.push_str("\\t"),
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            c => buf.push(c),
        }
    }
}

/// The CPU part of a fit: both models, then every customer's predictions,
/// computed once per unique history (and once per unique (x, m̄) for the value).
pub(super) fn compute(
    inputs: &[Input],
    options: &FitOptions,
    progress: Progress<'_>,
) -> Result<Computed, ForecastError> {
    let mut builder = TriplesBuilder::new();
    for i in inputs {
        builder.add(i.frequency as u32, i.recency as f64, i.t as f64, i.monetary)?;
    }
    let triples = builder.build();
    progress(&format!(
        "{} customers, {} unique histories; fitting BG/NBD",
        triples.n_customers(),
        triples.n_unique()
    ));
    let bg = fit_bgnbd(&triples, options)?;
    progress("fitting Gamma-Gamma");
    let gg = fit_gamma_gamma(&triples, options)?;
    progress("predicting per unique history");
    let mut histories: HashMap<(i32, i32, i32), Option<HistoryPrediction>> = HashMap::new();
    let mut values: HashMap<(i32, u64), Option<f64>> = HashMap::new();
    let mut rows = Vec::with_capacity(inputs.len());
    let mut skipped = 0;
    for (index, i) in inputs.iter().enumerate() {
        let h = histories
            .entry((i.frequency, i.recency, i.t))
            .or_insert_with(|| history_predictions(&bg.params, i).ok())
            .clone();
        let v = *values
            .entry((i.frequency, i.monetary.to_bits()))
            .or_insert_with(|| {
                gg.params
                    .conditional_expected_average_value(i.frequency as u32, i.monetary)
                    .ok()
            });
        match (h, v) {
            (Some((p_alive, cum)), Some(value)) => rows.push((index, p_alive, value, cum)),
            _ => skipped += 1,
        }
    }
    Ok(Computed {
        bg,
        gg,
        rows,
        skipped,
    })
}

/// P(alive) and the cumulative expected purchases of months 1..=36.
type HistoryPrediction = (f64, Arc<Vec<f64>>);

/// P(alive) and cumulative expected purchases for months 1..=36.
fn history_predictions(bg: &BgNbdParams, i: &Input) -> Result<HistoryPrediction, ForecastError> {
    let (x, t_x, t) = (i.frequency as u32, i.recency as f64, i.t as f64);
    let p_alive = bg.p_alive(x, t_x, t)?;
    let cum = (1..=MAX_HORIZON_MONTHS)
        .map(|m| bg.conditional_expected_purchases(m as f64 * DAYS_PER_MONTH, x, t_x, t))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((p_alive, Arc::new(cum)))
}

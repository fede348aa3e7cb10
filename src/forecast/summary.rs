//! Collapsing customers into unique histories.
//!
//! The BG/NBD likelihood depends on a customer only through (x, t_x, T), and
//! the Gamma-Gamma likelihood only through (x, m̄). Many customers share a
//! history (everyone with x = 0 who started on the same day), so the fits
//! loop over unique histories with a count, and their cost grows with the
//! number of distinct histories rather than with the number of customers.
//! Rows are sorted by x so that the terms that depend on x alone (ln Γ,
//! digamma) are computed once per distinct x.

use std::collections::HashMap;

use super::error::{finite, history, ForecastError, Result};

/// One unique purchase history and how many customers have it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistoryRow {
    /// Repeat purchases.
    pub x: u32,
    /// Time of the last purchase, from the first one.
    pub t_x: f64,
    /// Time from the first purchase to the end of observation.
    pub t: f64,
    /// Number of customers with this history.
    pub count: f64,
}

/// One unique (x, m̄) pair of a repeat buyer with m̄ > 0, for Gamma-Gamma.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpendRow {
    /// Repeat purchases (> 0).
    pub x: u32,
    /// Mean value of the repeat purchases (> 0).
    pub m: f64,
    /// ln m, precomputed once for the likelihood loop.
    pub(crate) ln_m: f64,
    /// Number of customers with this pair.
    pub count: f64,
}

/// Customers grouped into unique histories; build with [`TriplesBuilder`] or
/// [`Triples::from_customers`].
#[derive(Debug, Clone, Default)]
pub struct Triples {
    pub(crate) rows: Vec<HistoryRow>,
    /// (x, first row, end row) for each distinct x in `rows`.
    pub(crate) groups: Vec<(u32, usize, usize)>,
    pub(crate) spend: Vec<SpendRow>,
    pub(crate) spend_groups: Vec<(u32, usize, usize)>,
    pub(crate) n_customers: u64,
    pub(crate) n_spend_customers: u64,
    pub(crate) max_t: f64,
}

impl Triples {
    /// Groups per-customer `(frequency, recency, T, monetary_value)` tuples.
    pub fn from_customers<I>(customers: I) -> Result<Self>
    where
        I: IntoIterator<Item = (u32, f64, f64, f64)>,
    {
        let mut b = TriplesBuilder::new();
        for (x, t_x, t, m) in customers {
            b.add(x, t_x, t, m)?;
        }
        Ok(b.build())
    }

    /// Unique (x, t_x, T) histories, sorted by x.
    pub fn rows(&self) -> &[HistoryRow] {
        &self.rows
    }
    /// Unique (x, m̄) pairs eligible for Gamma-Gamma, sorted by x.
    pub fn spend_rows(&self) -> &[SpendRow] {
        &self.spend
    }
    /// Customers behind the histories.
    pub fn n_customers(&self) -> u64 {
        self.n_customers
    }
    /// Number of unique (x, t_x, T) histories.
    pub fn n_unique(&self) -> usize {
        self.rows.len()
    }
    /// Customers with x > 0 and m̄ > 0 (the Gamma-Gamma sample).
    pub fn n_spend_customers(&self) -> u64 {
        self.n_spend_customers
    }
    /// Number of unique (x, m̄) pairs.
    pub fn n_unique_spend(&self) -> usize {
        self.spend.len()
    }
    /// Largest T (0 when empty); the BG/NBD fit works in units of it.
    pub fn max_t(&self) -> f64 {
        self.max_t
    }
}

/// Accumulates customers, one at a time or pre-counted (e.g. a SQL
/// `GROUP BY frequency, recency, T` with `COUNT(*)`).
#[derive(Debug, Default)]
pub struct TriplesBuilder {
    // Keyed on the bit patterns: exact equality is what "same history" means.
    histories: HashMap<(u32, u64, u64), u64>,
    spend: HashMap<(u32, u64), u64>,
}

impl TriplesBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one customer.
    pub fn add(&mut self, frequency: u32, recency: f64, t: f64, monetary: f64) -> Result<()> {
        self.add_count(frequency, recency, t, monetary, 1)
    }

    /// Adds `count` customers with the same history. A negative count is an
    /// error (it usually means a broken aggregation upstream); 0 is ignored.
    /// Customers with frequency > 0 and monetary > 0 also join the spend
    /// sample; monetary is otherwise unused (docs/METRICS.md sets it to 0 for x = 0).
    pub fn add_count(
        &mut self,
        frequency: u32,
        recency: f64,
        t: f64,
        monetary: f64,
        count: i64,
    ) -> Result<()> {
        if count < 0 {
            return Err(ForecastError::InvalidInput(format!(
                "customer count must be >= 0, got {count}"
            )));
        }
        history(frequency, recency, t)?;
        finite("monetary_value", monetary)?;
        if count == 0 {
            return Ok(());
        }
        // + 0.0 turns −0.0 into 0.0 so both land on the same key.
        let key = (frequency, (recency + 0.0).to_bits(), (t + 0.0).to_bits());
        *self.histories.entry(key).or_insert(0) += count as u64;
        if frequency > 0 && monetary > 0.0 {
            *self
                .spend
                .entry((frequency, monetary.to_bits()))
                .or_insert(0) += count as u64;
        }
        Ok(())
    }

    /// Sorts and groups the accumulated histories.
    pub fn build(self) -> Triples {
        let mut rows: Vec<HistoryRow> = self
            .histories
            .into_iter()
            .map(|((x, tx, t), n)| HistoryRow {
                x,
                t_x: f64::from_bits(tx),
                t: f64::from_bits(t),
                count: n as f64,
            })
            .collect();
        // Sorting by every field makes the order, and so the floating-point
        // sums of the fit, independent of the hash map's iteration order.
        rows.sort_by(|p, q| (p.x, p.t, p.t_x).partial_cmp(&(q.x, q.t, q.t_x)).unwrap());
        let mut spend: Vec<SpendRow> = self
            .spend
            .into_iter()
            .map(|((x, m), n)| {
                let m = f64::from_bits(m);
                SpendRow {
                    x,
                    m,
                    ln_m: m.ln(),
                    count: n as f64,
                }
            })
            .collect();
        spend.sort_by(|p, q| (p.x, p.m).partial_cmp(&(q.x, q.m)).unwrap());
        Triples {
            groups: group_by_x(rows.iter().map(|r| r.x)),
            spend_groups: group_by_x(spend.iter().map(|r| r.x)),
            n_customers: rows.iter().map(|r| r.count as u64).sum(),
            n_spend_customers: spend.iter().map(|r| r.count as u64).sum(),
            max_t: rows.iter().map(|r| r.t).fold(0.0, f64::max),
            rows,
            spend,
        }
    }
}

/// (x, start, end) ranges of runs of equal x in a sorted sequence.
fn group_by_x(xs: impl Iterator<Item = u32>) -> Vec<(u32, usize, usize)> {
    let mut groups: Vec<(u32, usize, usize)> = Vec::new();
    for (i, x) in xs.enumerate() {
        match groups.last_mut() {
            Some(g) if g.0 == x => g.2 = i + 1,
            _ => groups.push((x, i, i + 1)),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_histories_are_counted_once() {
        let t = Triples::from_customers([
            (0, 0.0, 10.0, 0.0),
            (0, 0.0, 10.0, 0.0),
            (2, 4.0, 10.0, 5.0),
            (2, 4.0, 10.0, 7.0),
            (1, -0.0 + 3.0, 9.0, 5.0),
            (2, 4.0, 10.0, 5.0),
        ])
        .unwrap();
        assert_eq!(t.n_customers(), 6);
        assert_eq!(t.n_unique(), 3);
        assert_eq!(t.rows()[0].count, 2.0);
        assert_eq!(
            t.rows()[2],
            HistoryRow {
                x: 2,
                t_x: 4.0,
                t: 10.0,
                count: 3.0
            }
        );
        assert_eq!(t.groups, vec![(0, 0, 1), (1, 1, 2), (2, 2, 3)]);
        assert_eq!(t.n_spend_customers(), 4);
        assert_eq!(t.n_unique_spend(), 3);
        assert_eq!(t.max_t(), 10.0);
    }

    #[test]
    fn invalid_histories_are_rejected() {
        let mut b = TriplesBuilder::new();
        assert!(b.add(1, 5.0, 4.0, 1.0).is_err(), "recency > T");
        assert!(b.add(1, f64::NAN, 4.0, 1.0).is_err());
        assert!(b.add(1, 1.0, 4.0, f64::INFINITY).is_err());
        assert!(b.add(0, 1.0, 4.0, 0.0).is_err(), "x = 0 needs recency 0");
        assert!(b.add_count(1, 1.0, 4.0, 1.0, -3).is_err());
        b.add_count(1, 1.0, 4.0, 1.0, 0).unwrap();
        assert_eq!(b.build().n_customers(), 0);
    }
}

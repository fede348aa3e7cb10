//! The derived state: every table the pipes read that is computed from the
//! three datasource tables, and the checks that it is exact. The tables and
//! their maintenance are SQL (`migrations/`, `sql/`); this module knows which
//! tables are derived and how to prove them right (`ltv-pipes rollups verify`).

pub mod rebuild;
pub mod verify;

pub use rebuild::{rebuild, rebuild_stale, refresh};
pub use verify::{verify, Difference, Report};

use crate::ingest::Datasource::{
    self, CustomerInteractions as I, Customers as C, Transactions as T,
};

/// A derived table and the rows of it that count for nothing. Group-level
/// tables keep a row whose every measure went back to zero (its members moved
/// away): such a row changes no answer, so it is not a difference.
#[derive(Debug, Clone, Copy)]
pub struct Derived {
    pub table: &'static str,
    /// SQL predicate over the table's columns: true for a row that adds
    /// nothing to any answer (None: every row counts).
    pub zero: Option<&'static str>,
    /// The datasources whose rows it is computed from: a rebuild after a load
    /// of one datasource recomputes only these tables.
    pub from: &'static [Datasource],
    /// The order a rebuild writes the rows in (None: the key's). The daily
    /// rollups are written by day, as live ingestion appends them, so that
    /// the pipes' day ranges (as_of's unfinished period, RFM windows) read a
    /// run of pages instead of a few rows from every page.
    pub cluster: Option<&'static str>,
}

/// Every derived table, level by level: each is recomputed by the view
/// `ltv_expected_<table>` (sql/10_verify.sql) from the raw tables (level 1) or
/// from the stored level below.
pub const DERIVED: &[Derived] = &[
    Derived { table: "customer_day_category", zero: Some("purchases = 0 AND refunds = 0"), from: &[T], cluster: Some("day, customer_id, category") },
    Derived { table: "interaction_day", zero: Some("interactions = 0"), from: &[I], cluster: Some("day, customer_id, channel") },
    Derived { table: "customer_category_total", zero: Some("purchases = 0"), from: &[T], cluster: None },
    Derived { table: "customer_channel_total", zero: Some("interactions = 0"), from: &[I], cluster: None },
    Derived { table: "customer_summary", zero: None, from: &[C, T, I], cluster: None },
    Derived { table: "customer_cube", zero: Some("customers = 0 AND purchases = 0 AND refunds = 0 AND gross = 0 AND refunded = 0"), from: &[C, T], cluster: None },
    Derived { table: "customer_period", zero: Some("purchases = 0 AND gross = 0 AND refunded = 0"), from: &[T], cluster: None },
    Derived { table: "cohort_activity", zero: Some("active = 0 AND purchases = 0 AND gross = 0 AND refunded = 0 AND first_buyers = 0"), from: &[C, T], cluster: None },
    Derived { table: "ltv_histogram", zero: Some("customers = 0 AND ltv = 0"), from: &[C, T], cluster: None },
    Derived { table: "rfm_cube", zero: Some("customers = 0 AND monetary = 0"), from: &[T], cluster: None },
    Derived { table: "rfm_monetary", zero: Some("customers = 0"), from: &[T], cluster: None },
    Derived { table: "rfm_days", zero: Some("customers = 0"), from: &[T], cluster: None },
    Derived { table: "rfm_purchases", zero: Some("customers = 0"), from: &[T], cluster: None },
    Derived { table: "factor_cube", zero: Some("customers = 0 AND ltv = 0 AND purchases = 0 AND gross = 0 AND interactions = 0 AND satisfaction_sum = 0 AND satisfaction_n = 0"), from: &[C, T, I], cluster: None },
    Derived { table: "factor_histogram", zero: Some("customers = 0"), from: &[C, T, I], cluster: None },
    Derived { table: "factor_correlation", zero: Some("n = 0 AND sx = 0 AND sy = 0 AND sxx = 0 AND syy = 0 AND sxy = 0"), from: &[C, T, I], cluster: None },
];

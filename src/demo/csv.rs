//! The demo customers as CSV files with a header row, one per datasource, in
//! the shape the bulk endpoint (`POST /v0/datasources?mode=append`) reads.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::generate::Customer;
use crate::ingest::Datasource;

/// The header row of a datasource's file.
pub fn header(ds: Datasource) -> &'static str {
    match ds {
        Datasource::Customers => {
            "customer_id,registration_date,country,city,age,gender,acquisition_source,segment,is_active\n"
        }
        Datasource::Transactions => {
            "transaction_id,customer_id,transaction_date,amount,product_category,transaction_type,payment_method,is_refund\n"
        }
        Datasource::CustomerInteractions => {
            "interaction_id,customer_id,interaction_date,interaction_type,channel,duration_seconds,satisfaction_score\n"
        }
    }
}

/// Appends the customer's rows of `ds` to `out`; returns how many.
pub fn rows(ds: Datasource, c: &Customer, out: &mut String) -> usize {
    match ds {
        Datasource::Customers => {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{}",
                c.id,
                ts(c.registered),
                c.country,
                c.city,
                c.age.map(|a| a.to_string()).unwrap_or_default(),
                c.gender.unwrap_or(""),
                c.source,
                c.segment,
                u8::from(c.is_active)
            );
            1
        }
        Datasource::Transactions => {
            for o in &c.orders {
                let _ = writeln!(
                    out,
                    "{},{},{},{}.{:02},{},{},{},{}",
                    o.id,
                    c.id,
                    ts(o.at),
                    o.cents / 100,
                    o.cents % 100,
                    o.category,
                    if o.refund { "refund" } else { "purchase" },
                    o.payment,
                    u8::from(o.refund)
                );
            }
            c.orders.len()
        }
        Datasource::CustomerInteractions => {
            for i in &c.interactions {
                let _ = writeln!(
                    out,
                    "{},{},{},{},{},{},{}",
                    i.id,
                    c.id,
                    ts(i.at),
                    i.kind,
                    i.channel,
                    i.duration_seconds,
                    i.satisfaction.map(|s| s.to_string()).unwrap_or_default()
                );
            }
            c.interactions.len()
        }
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

//! The three datasources and their typed rows. A row exists only once it passed
//! validation; what fails becomes a [`Rejected`] with the reason.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::fields::Fields;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datasource {
    Customers,
    Transactions,
    CustomerInteractions,
}

impl Datasource {
    pub const ALL: [Datasource; 3] = [
        Datasource::Customers,
        Datasource::Transactions,
        Datasource::CustomerInteractions,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Datasource::Customers => "customers",
            Datasource::Transactions => "transactions",
            Datasource::CustomerInteractions => "customer_interactions",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    /// The comma-separated list, for "unknown datasource" answers.
    /// The fields a row of this datasource may carry.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            Datasource::Customers => &[
                "customer_id",
                "registration_date",
                "country",
                "city",
                "age",
                "gender",
                "acquisition_source",
                "segment",
                "is_active",
            ],
            Datasource::Transactions => &[
                "transaction_id",
                "customer_id",
                "transaction_date",
                "amount",
                "product_category",
                "transaction_type",
                "payment_method",
                "is_refund",
            ],
            Datasource::CustomerInteractions => &[
                "interaction_id",
                "customer_id",
                "interaction_date",
                "interaction_type",
                "channel",
                "duration_seconds",
                "satisfaction_score",
            ],
        }
    }

    pub fn names() -> String {
        Self::ALL.map(Datasource::name).join(", ")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    pub customer_id: String,
    pub registration_date: DateTime<Utc>,
    pub country: Option<String>,
    pub city: Option<String>,
    pub age: Option<i32>,
    pub gender: Option<String>,
    pub acquisition_source: Option<String>,
    pub segment: Option<String>,
    pub is_active: i16,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Transaction {
    pub transaction_id: String,
    pub customer_id: String,
    pub transaction_date: DateTime<Utc>,
    pub amount: Decimal,
    pub product_category: Option<String>,
    pub transaction_type: Option<String>,
    pub payment_method: Option<String>,
    pub is_refund: i16,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Interaction {
    pub interaction_id: String,
    pub customer_id: String,
    pub interaction_date: DateTime<Utc>,
    pub interaction_type: Option<String>,
    pub channel: Option<String>,
    pub duration_seconds: Option<i32>,
    pub satisfaction_score: Option<i16>,
}

/// Valid rows of one datasource, in arrival order.
#[derive(Debug, Clone)]
pub enum Rows {
    Customers(Vec<Customer>),
    Transactions(Vec<Transaction>),
    Interactions(Vec<Interaction>),
}

impl Rows {
    pub fn new(ds: Datasource) -> Self {
        match ds {
            Datasource::Customers => Rows::Customers(Vec::new()),
            Datasource::Transactions => Rows::Transactions(Vec::new()),
            Datasource::CustomerInteractions => Rows::Interactions(Vec::new()),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Rows::Customers(v) => v.len(),
            Rows::Transactions(v) => v.len(),
            Rows::Interactions(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Validates `obj` as a row of this datasource and keeps it, or says why not.
    pub fn push(&mut self, obj: &Map<String, Value>) -> Result<(), String> {
        let f = Fields(obj);
        match self {
            Rows::Customers(v) => v.push(customer(&f)?),
            Rows::Transactions(v) => v.push(transaction(&f)?),
            Rows::Interactions(v) => v.push(interaction(&f)?),
        }
        Ok(())
    }
}

/// A row that failed validation: the text as received and the reason, both
/// storable as PostgreSQL text. The fields are private so that every
/// rejection goes through [`Rejected::new`]: a reason quotes the offending
/// value, and a value with a NUL in it once made the quarantine insert itself
/// fail (a 500 that dropped the good rows of the same body).
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    raw: String,
    error: String,
}

impl Rejected {
    pub fn new(raw: &str, error: &str) -> Self {
        Self {
            raw: storable(raw),
            error: storable(error),
        }
    }

    pub fn raw(&self) -> &str {
        &self.raw
    }

    pub fn error(&self) -> &str {
        &self.error
    }
}

/// PostgreSQL text holds any Unicode except NUL (Rust strings cannot hold a
/// lone surrogate, and invalid UTF-8 was replaced when the line was read): a
/// NUL becomes U+FFFD, the replacement character.
fn storable(text: &str) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text.to_string()
    }
}

fn customer(f: &Fields) -> Result<Customer, String> {
    Ok(Customer {
        customer_id: f.id("customer_id")?,
        registration_date: f.timestamp("registration_date")?,
        country: f.text("country")?,
        city: f.text("city")?,
        age: f.int("age", 0, 150)?.map(|v| v as i32),
        gender: f.text("gender")?,
        acquisition_source: f.text("acquisition_source")?,
        segment: f.text("segment")?,
        is_active: f.flag("is_active", 1)?,
    })
}

fn transaction(f: &Fields) -> Result<Transaction, String> {
    Ok(Transaction {
        transaction_id: f.id("transaction_id")?,
        customer_id: f.id("customer_id")?,
        transaction_date: f.timestamp("transaction_date")?,
        amount: f.amount("amount")?,
        product_category: f.text("product_category")?,
        transaction_type: f.text("transaction_type")?,
        payment_method: f.text("payment_method")?,
        is_refund: f.flag("is_refund", 0)?,
    })
}

fn interaction(f: &Fields) -> Result<Interaction, String> {
    Ok(Interaction {
        interaction_id: f.id("interaction_id")?,
        customer_id: f.id("customer_id")?,
        interaction_date: f.timestamp("interaction_date")?,
        interaction_type: f.text("interaction_type")?,
        channel: f.text("channel")?,
        duration_seconds: f
            .int("duration_seconds", 0, i32::MAX as i64)?
            .map(|v| v as i32),
        satisfaction_score: f.int("satisfaction_score", 1, 5)?.map(|v| v as i16),
    })
}

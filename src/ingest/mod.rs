//! Ingestion: a decoded body becomes validated rows of one datasource, stored
//! with its rejections in one transaction; the maintainer then applies them
//! to the derived state. HTTP-free.

pub mod body;
pub mod bulk;
pub mod compact;
pub mod fields;
pub mod maintainer;
pub mod rows;
mod store;
pub mod versions;

use crate::db::Writer;
use serde::Serialize;

pub use body::BodyError;
pub use rows::{Datasource, Rejected, Rows};

/// What the Events API answers.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Outcome {
    pub successful_rows: usize,
    pub quarantined_rows: usize,
    /// The data versions the write bumped, for the server's in-memory copy.
    #[serde(skip)]
    pub bumped: versions::Bumped,
    /// Where its rows wait for the maintainer (None: nothing to apply).
    #[serde(skip)]
    pub pending: Option<maintainer::Pending>,
}

/// Validates every row of `body` (already decoded) and stores valid rows and
/// rejections together. On error nothing is written.
pub async fn ingest(writer: &Writer, ds: Datasource, body: &[u8]) -> Result<Outcome, sqlx::Error> {
    let (rows, rejected) = validate(ds, body);
    let written = store::write(writer, ds, &rows, &rejected).await?;
    Ok(Outcome {
        successful_rows: rows.len(),
        quarantined_rows: rejected.len(),
        bumped: written.bumped,
        pending: written.pending,
    })
}

/// Splits the rows of `body` into valid rows and rejections with reasons.
pub fn validate(ds: Datasource, body: &[u8]) -> (Rows, Vec<Rejected>) {
    let mut rows = Rows::new(ds);
    let mut rejected = Vec::new();
    for (raw, parsed) in body::split(body) {
        let outcome =
            parsed.and_then(|obj| rows.push(&obj).map_err(|error| Rejected::new(&raw, &error)));
        if let Err(r) = outcome {
            rejected.push(r);
        }
    }
    (rows, rejected)
}

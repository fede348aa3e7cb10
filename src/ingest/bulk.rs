//! Bulk append: a whole file (CSV with a header row, or NDJSON), streamed,
//! validated row by row exactly like the Events API, and stored in one
//! transaction, chunk by chunk. Memory stays constant whatever the size: a
//! blocking thread parses the stream and hands over chunks of validated rows
//! through a bounded channel; the async side writes each chunk's raw rows and
//! rejections inside the one transaction (the keys of the rows written go into
//! the maintainer's queue, as from the Events API) and commits; a file large
//! against the data stored is recomputed wholesale before the commit instead
//! (which empties the queue of its datasource), and otherwise the caller waits
//! for the maintainer to apply the file's rows (src/ingest/maintainer.rs).
//!
//! Rules (docs/BULK.md): one transaction for the file, so a 2xx means every row
//! is committed and an error means nothing was; rows that fail validation go
//! to the quarantine with the same reasons as the Events API and the load goes
//! on; a CSV whose structure is broken (unbalanced quotes, a row with the wrong
//! number of fields, unknown columns, invalid UTF-8) is refused with its line
//! number. An NDJSON line that is not a JSON object is a bad row (quarantined),
//! as in the Events API.

use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Map, Value};
use sqlx::PgPool;
use tokio::io::AsyncRead;
use tokio::sync::mpsc;
use tokio_util::io::SyncIoBridge;

use super::body::{self, Parsed};
use super::maintainer::Pending;
use super::rows::{Datasource, Rejected, Rows};
use super::{compact, store};
use crate::db::{self, Writer};
use crate::rollups;

/// Valid rows written per statement: big enough to amortize a round trip,
/// small enough to keep memory flat (a few MB).
const CHUNK_ROWS: usize = 20_000;
/// How often a long load logs its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// A file that wrote at least this share of the rows stored before it (a
/// first load, a backfill) has its derived state recomputed wholesale: one
/// set-based pass over the raw tables is cheaper than deltas for that many
/// rows. A smaller one gets deltas for the rows it wrote, from the maintainer.
const REBUILD_SHARE: f64 = 0.25;

/// How the file is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkFormat {
    Csv,
    Ndjson,
}

impl BulkFormat {
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "csv" => Some(BulkFormat::Csv),
            "ndjson" | "jsonl" | "json" => Some(BulkFormat::Ndjson),
            _ => None,
        }
    }
}

/// What a load did.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BulkReport {
    pub datasource: &'static str,
    /// Rows read from the file (header excluded).
    pub rows: u64,
    /// Valid rows applied (a repeated transaction id is applied as a no-op).
    pub successful_rows: u64,
    pub quarantined_rows: u64,
    pub elapsed_secs: f64,
    pub rows_per_sec: f64,
    /// How the derived state was brought up to date.
    pub derived_state: DerivedUpdate,
    /// The data versions the load bumped, for the server's in-memory copy.
    #[serde(skip)]
    pub bumped: super::versions::Bumped,
    /// Where its rows wait for the maintainer (None: nothing to apply).
    #[serde(skip)]
    pub pending: Option<Pending>,
}

/// How a load brought the derived state up to date.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DerivedUpdate {
    /// Nothing was written (every row was stored already, or bad).
    Unchanged,
    /// Deltas for the rows written, applied by the maintainer.
    Deltas,
    /// Committed, and still queued for the maintainer when the append
    /// answered (it waited as long as the append may take): visible in the
    /// pipes once applied.
    Queued,
    /// Recomputed wholesale from the raw tables (a file large against the
    /// data stored before it).
    Rebuilt,
}

#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    #[error("line {line}: {message}")]
    Malformed { line: u64, message: String },
    #[error("reading the body: {0}")]
    Read(std::io::Error),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// One chunk of the file: valid rows and rejections, in file order.
struct Chunk {
    rows: Rows,
    rejected: Vec<Rejected>,
}

/// Reads `reader` to the end and appends it to `ds` in one transaction.
pub async fn append<R>(
    writer: &Writer,
    ds: Datasource,
    format: BulkFormat,
    reader: R,
) -> Result<BulkReport, BulkError>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let started = Instant::now();
    let (tx, mut rx) = mpsc::channel::<Chunk>(2);
    let parser = tokio::task::spawn_blocking(move || {
        let input = decoded(SyncIoBridge::new(reader)).map_err(read_error)?;
        match format {
            BulkFormat::Csv => parse_csv(ds, input, &tx),
            BulkFormat::Ndjson => parse_ndjson(ds, input, &tx),
        }
    });

    let mut db = writer.begin().await?;
    let stored_before = stored_rows(&mut db, ds).await?;
    let (mut ok, mut bad, mut changed) = (0u64, 0u64, 0u64);
    let mut pending = None;
    let mut last_log = Instant::now();
    let mut write_error = None;
    while let Some(chunk) = rx.recv().await {
        match store::write_chunk(&mut db, ds, &chunk.rows, &chunk.rejected).await {
            Ok(written) => {
                changed += written.changed;
                pending = Pending::merge(pending, written.pending);
            }
            Err(e) => {
                write_error = Some(e);
                break; // dropping rx stops the parser
            }
        }
        ok += chunk.rows.len() as u64;
        bad += chunk.rejected.len() as u64;
        if last_log.elapsed() >= PROGRESS_EVERY {
            last_log = Instant::now();
            let secs = started.elapsed().as_secs_f64();
            tracing::info!(
                datasource = ds.name(),
                rows = ok + bad,
                rows_per_sec = ((ok + bad) as f64 / secs) as u64,
                "bulk append in progress"
            );
        }
    }
    drop(rx);
    let parsed = parser
        .await
        .map_err(|e| BulkError::Read(std::io::Error::other(e)))?;
    if let Some(e) = write_error {
        return Err(e.into()); // the transaction rolls back on drop
    }
    let rows = parsed?;
    let derived_state = derive(&mut db, ds, changed, stored_before).await?;
    if derived_state != DerivedUpdate::Deltas {
        pending = None; // rebuilt (its keys left the queue) or nothing written
    }
    let bumped = store::bump(&mut db, ds, changed, bad as usize).await?;
    db.commit().await?;
    let elapsed_secs = started.elapsed().as_secs_f64();
    if derived_state == DerivedUpdate::Rebuilt {
        compact_rollups(writer.pool()).await;
    }
    Ok(BulkReport {
        datasource: ds.name(),
        rows,
        successful_rows: ok,
        quarantined_rows: bad,
        elapsed_secs,
        rows_per_sec: rows as f64 / elapsed_secs.max(1e-9),
        derived_state,
        bumped,
        pending,
    })
}

/// After a load's derived state is in (recomputed, or its deltas applied by
/// the maintainer): the cube tables it bloated rewritten (`compact.rs`). The
/// rows are committed whatever happens here: a failure is only logged.
pub async fn compact_rollups(pool: &PgPool) {
    if let Err(e) = compact::rollups(pool).await {
        tracing::warn!(error = %e, "could not compact the rollup tables after a bulk append");
    }
}

/// Chooses how the derived state follows the `written` raw rows of the load:
/// recomputed wholesale now, inside the load's transaction, when the load is
/// large against what was stored; else the maintainer applies them.
async fn derive(
    db: &mut sqlx::PgConnection,
    ds: Datasource,
    written: u64,
    stored_before: f64,
) -> Result<DerivedUpdate, sqlx::Error> {
    if written == 0 {
        return Ok(DerivedUpdate::Unchanged);
    }
    if (written as f64) < REBUILD_SHARE * stored_before {
        return Ok(DerivedUpdate::Deltas);
    }
    let started = Instant::now();
    // The derived state is not the writer role's to write.
    db::leave_writer_role(db).await?;
    rollups::rebuild(db, &[ds]).await?;
    // The next load's choice reads this table's row estimate.
    sqlx::query(&format!("ANALYZE {}", ds.name()))
        .execute(&mut *db)
        .await?;
    tracing::info!(
        datasource = ds.name(),
        written,
        secs = started.elapsed().as_secs_f64(),
        "bulk append: derived state recomputed"
    );
    Ok(DerivedUpdate::Rebuilt)
}

/// About how many rows the datasource's table held before the load: the
/// planner's estimate (exact enough to choose between a rebuild and deltas),
/// counted when the table was never analyzed.
async fn stored_rows(db: &mut sqlx::PgConnection, ds: Datasource) -> Result<f64, sqlx::Error> {
    let table = ds.name(); // the table has the datasource's name
    let estimate: f32 =
        sqlx::query_scalar("SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)")
            .bind(table)
            .fetch_one(&mut *db)
            .await?;
    if estimate >= 0.0 {
        return Ok(estimate as f64);
    }
    // Identifier from the datasource list, never from a request.
    let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(&mut *db)
        .await?;
    Ok(n as f64)
}

/// Collects rows into chunks and sends each full one; false once the writer
/// has gone away (it failed), so the parser stops reading.
struct Batcher<'a> {
    ds: Datasource,
    current: Chunk,
    tx: &'a mpsc::Sender<Chunk>,
    rows: u64,
}

impl<'a> Batcher<'a> {
    fn new(ds: Datasource, tx: &'a mpsc::Sender<Chunk>) -> Self {
        Self {
            ds,
            current: Chunk {
                rows: Rows::new(ds),
                rejected: Vec::new(),
            },
            tx,
            rows: 0,
        }
    }

    fn add(&mut self, raw: &str, parsed: Parsed) -> bool {
        self.rows += 1;
        let outcome = parsed.and_then(|obj| {
            self.current
                .rows
                .push(&obj)
                .map_err(|error| Rejected::new(raw, &error))
        });
        if let Err(r) = outcome {
            self.current.rejected.push(r);
        }
        if self.current.rows.len() + self.current.rejected.len() >= CHUNK_ROWS {
            return self.flush();
        }
        true
    }

    fn flush(&mut self) -> bool {
        let next = Chunk {
            rows: Rows::new(self.ds),
            rejected: Vec::new(),
        };
        let full = std::mem::replace(&mut self.current, next);
        if full.rows.is_empty() && full.rejected.is_empty() {
            return true;
        }
        self.tx.blocking_send(full).is_ok()
    }
}

/// The body, gunzipped when it starts with the gzip magic bytes (whatever the
/// Content-Encoding said: curl --data-binary @file.csv.gz just works).
fn decoded(raw: impl Read + Send + 'static) -> std::io::Result<Box<dyn BufRead + Send>> {
    let mut raw = BufReader::with_capacity(1 << 16, raw);
    let head = raw.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        let gz = flate2::read::MultiGzDecoder::new(raw);
        Ok(Box::new(BufReader::with_capacity(1 << 16, gz)))
    } else {
        Ok(Box::new(raw))
    }
}

fn read_error(e: std::io::Error) -> BulkError {
    // A gzip stream that is not gzip surfaces here as InvalidInput/InvalidData.
    match e.kind() {
        std::io::ErrorKind::InvalidData | std::io::ErrorKind::InvalidInput => {
            BulkError::Malformed {
                line: 0,
                message: format!("the body could not be decoded: {e}"),
            }
        }
        _ => BulkError::Read(e),
    }
}

fn parse_ndjson(
    ds: Datasource,
    mut input: impl BufRead,
    tx: &mpsc::Sender<Chunk>,
) -> Result<u64, BulkError> {
    let mut batch = Batcher::new(ds, tx);
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line).map_err(read_error)? == 0 {
            break;
        }
        number += 1;
        if line.trim_ascii().is_empty() {
            continue;
        }
        let (raw, parsed) = body::one_line(number as usize, &line);
        if !batch.add(&raw, parsed) {
            return Ok(batch.rows);
        }
    }
    batch.flush();
    Ok(batch.rows)
}

fn parse_csv(ds: Datasource, input: impl Read, tx: &mpsc::Sender<Chunk>) -> Result<u64, BulkError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(input);
    let header = reader.headers().map_err(csv_error)?.clone();
    let names: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    check_columns(ds, &names)?;
    let mut batch = Batcher::new(ds, tx);
    // Bytes, not strings: a row with bytes that are not UTF-8 is quarantined
    // (its text kept with U+FFFD in their place) like a bad NDJSON line,
    // rather than refusing the whole file.
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_error(e)),
        }
        if record.len() == 1 && record[0].trim_ascii().is_empty() {
            continue; // a blank line
        }
        let fields: Vec<String> = record
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        let raw = fields.join(",");
        let parsed = if record.iter().all(|f| std::str::from_utf8(f).is_ok()) {
            Ok(names
                .iter()
                .cloned()
                .zip(fields.into_iter().map(Value::String))
                .collect::<Map<String, Value>>())
        } else {
            let line = record.position().map_or(0, |p| p.line());
            Err(Rejected::new(
                &raw,
                &format!("line {line} is not valid UTF-8"),
            ))
        };
        if !batch.add(&raw, parsed) {
            return Ok(batch.rows);
        }
    }
    batch.flush();
    Ok(batch.rows)
}

/// Every column must be one of the datasource's fields (a typo would otherwise
/// silently load nulls).
fn check_columns(ds: Datasource, names: &[String]) -> Result<(), BulkError> {
    let known = ds.fields();
    let unknown: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| !known.contains(n))
        .collect();
    if !unknown.is_empty() {
        return Err(BulkError::Malformed {
            line: 1,
            message: format!(
                "unknown column(s) {} for datasource '{}'; its columns are: {}",
                unknown.join(", "),
                ds.name(),
                known.join(", ")
            ),
        });
    }
    Ok(())
}

fn csv_error(e: csv::Error) -> BulkError {
    let line = e.position().map(|p| p.line()).unwrap_or(0);
    match e.into_kind() {
        csv::ErrorKind::Io(io) => read_error(io),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => BulkError::Malformed {
            line,
            message: format!("expected {expected_len} fields like the header, found {len}"),
        },
        csv::ErrorKind::Utf8 { .. } => BulkError::Malformed {
            line,
            message: "not valid UTF-8".into(),
        },
        other => BulkError::Malformed {
            line,
            message: format!("{other:?}"),
        },
    }
}

//! Streams the generated CSV into the bulk loader.

use std::time::Instant;

use crate::db::Writer;
use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::io::StreamReader;

use super::Spec;
use crate::ingest::bulk::{self, BulkFormat, BulkReport};
use crate::ingest::Datasource;

/// Customers per chunk sent to the loader (a few hundred KB of CSV).
const CHUNK_CUSTOMERS: u64 = 2_000;

/// What one datasource's pass loaded.
#[derive(Debug)]
pub struct PassReport {
    pub datasource: Datasource,
    pub rows_generated: u64,
    pub report: BulkReport,
    pub seconds: f64,
}

/// Loads customers, transactions and interactions for `spec`, in that order.
/// `progress(datasource, customers_done)` is called after every chunk.
pub async fn load(
    writer: &Writer,
    spec: Spec,
    progress: impl Fn(Datasource, u64) + Send + Sync + Clone + 'static,
) -> anyhow::Result<Vec<PassReport>> {
    let mut passes = Vec::new();
    for ds in Datasource::ALL {
        let started = Instant::now();
        let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(8);
        let progress = progress.clone();
        let producer = tokio::task::spawn_blocking(move || produce(spec, ds, tx, progress));
        let reader = StreamReader::new(tokio_stream_of(rx));
        let report = bulk::append(writer, ds, BulkFormat::Csv, reader).await;
        // The producer stops on its own when the loader hangs up early.
        let rows_generated = producer.await?;
        let report = report?;
        if report.pending.is_some() {
            // A load into stored data: no server runs the maintainer here.
            crate::ingest::maintainer::drain(writer.pool(), crate::ingest::maintainer::DRAIN_ROWS)
                .await?;
            bulk::compact_rollups(writer.pool()).await;
        }
        passes.push(PassReport {
            datasource: ds,
            rows_generated,
            report,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    Ok(passes)
}

/// Writes the file of `ds` chunk by chunk; returns the rows written.
fn produce(
    spec: Spec,
    ds: Datasource,
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    progress: impl Fn(Datasource, u64),
) -> u64 {
    let mut rows = 0;
    let mut out = String::from(super::csv::header(ds));
    let mut i = 0;
    while i < spec.customers {
        let stop = (i + CHUNK_CUSTOMERS).min(spec.customers);
        for n in i..stop {
            rows += super::csv::rows(ds, &spec.customer(n), &mut out) as u64;
        }
        i = stop;
        if tx
            .blocking_send(Ok(Bytes::from(std::mem::take(&mut out))))
            .is_err()
        {
            break;
        }
        progress(ds, i);
    }
    rows
}

fn tokio_stream_of(
    mut rx: mpsc::Receiver<std::io::Result<Bytes>>,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

-- Data versions: one counter per kind of data a pipe answer can read. Every
-- writer bumps the counter of what it changed in the same transaction as the
-- change (src/ingest/versions.rs) and NOTIFYs `ltv_data_changed` with
-- '<source>:<version>' (delivered at COMMIT), so every server knows, without a
-- query, whether a cached answer or a client's ETag is still current.
-- Counters start at a random number so that two databases (say, one dropped
-- and created again) never give the same ETag to different data.
CREATE TABLE data_versions (
    source  text PRIMARY KEY,
    version bigint NOT NULL
);

INSERT INTO data_versions (source, version)
SELECT s, floor(random() * 4503599627370496)::bigint
FROM unnest(ARRAY['customers', 'transactions', 'customer_interactions', 'quarantine', 'forecast']) AS s;

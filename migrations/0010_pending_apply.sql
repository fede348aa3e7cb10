-- The maintainer's queue: the key of every raw row written but not yet
-- applied to the derived state. A write commits its raw rows and their keys
-- together and is acknowledged; the maintainer (sql/11_ingest.sql,
-- ltv_apply_pending; src/ingest/maintainer.rs) applies a batch of keys and
-- deletes them in one transaction, so each row is applied exactly once.
CREATE TABLE pending_apply (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    datasource text NOT NULL
        CHECK (datasource IN ('customers', 'transactions', 'customer_interactions')),
    key text NOT NULL
);

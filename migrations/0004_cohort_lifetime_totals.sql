-- The cohort cube keeps lifetime totals and cohorts by first purchase, so that
-- ltv_by_cohort and customer_retention_analysis answer any as_of and either
-- cohort basis from it (sql/05_retention.sql): customer_period holds
-- purchases, gross and refunded amounts instead of the net alone;
-- cohort_activity gains the basis, those sums, the first buyers of each
-- period, and activity before a cohort's period (purchases made before
-- registering). Both tables are derived, so they are made again empty and
-- marked stale: after the migrations and the SQL components, every stale
-- table is recomputed from its definition (src/rollups/rebuild.rs,
-- sql/10_verify.sql), exactly as `ltv-pipes rollups refresh` would.

-- Functions and verify views built on the old row types go with them;
-- sql/ creates them again.
DROP TABLE customer_period, cohort_activity CASCADE;

CREATE TABLE customer_period (
    customer_id text     NOT NULL,
    months      smallint NOT NULL,  -- 1, 3 or 12
    period_idx  integer  NOT NULL,  -- month index / months
    purchases   bigint   NOT NULL,
    gross       numeric  NOT NULL,
    refunded    numeric  NOT NULL,
    PRIMARY KEY (customer_id, months, period_idx)
);

CREATE TABLE cohort_activity (
    months             smallint NOT NULL,  -- 1, 3 or 12
    -- 0: cohorts by registration (known customers); 1: by first purchase
    -- (every customer with one; transaction-only customers have the
    -- attributes '').
    basis              smallint NOT NULL,
    -- 0: by country, segment and acquisition_source; 1: all customers (the
    -- attributes ''), so an unfiltered matrix sums a few hundred rows.
    grain              smallint NOT NULL,
    cohort_idx         integer  NOT NULL,  -- the cohort's period index
    country            text     NOT NULL,  -- '' = none, as in customer_cube
    segment            text     NOT NULL,
    acquisition_source text     NOT NULL,
    period_idx         integer  NOT NULL,  -- may be below cohort_idx
    active             bigint   NOT NULL,  -- members with a purchase in the period
    purchases          bigint   NOT NULL,
    gross              numeric  NOT NULL,
    refunded           numeric  NOT NULL,
    first_buyers       bigint   NOT NULL,  -- members whose first purchase is in the period
    PRIMARY KEY (months, basis, grain, cohort_idx, country, segment, acquisition_source, period_idx)
);

-- Derived tables a migration emptied, to be recomputed at start.
CREATE TABLE derived_stale (
    table_name text PRIMARY KEY
);
INSERT INTO derived_stale (table_name)
SELECT t FROM (VALUES ('customer_period'), ('cohort_activity')) v(t)
WHERE EXISTS (SELECT 1 FROM customer_summary);

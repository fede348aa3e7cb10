-- Time and small helpers every component uses. Every session runs in UTC,
-- and these compute days and periods in UTC whatever the server's TimeZone.

-- Pipes compare dates in UTC whatever the server's TimeZone.
CREATE OR REPLACE FUNCTION ltv_day_end(as_of date) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (as_of + 1)::timestamp AT TIME ZONE 'UTC' $$;

CREATE OR REPLACE FUNCTION ltv_utc_day(ts timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (ts AT TIME ZONE 'UTC')::date $$;

-- Months since year 0 of a date, as customer_day_category.month_idx.
CREATE OR REPLACE FUNCTION ltv_month_idx(d date) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (extract(year FROM d) * 12 + extract(month FROM d) - 1)::integer $$;

-- Months per period.
CREATE OR REPLACE FUNCTION ltv_period_months(period text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE period WHEN 'month' THEN 1 WHEN 'quarter' THEN 3 ELSE 12 END $$;

-- Whole calendar periods from the period of `a` to the period of `b`.
CREATE OR REPLACE FUNCTION ltv_period_diff(a date, b date, period text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE period
    WHEN 'month'   THEN (extract(year FROM b)::int - extract(year FROM a)::int) * 12
                        + extract(month FROM b)::int - extract(month FROM a)::int
    WHEN 'quarter' THEN (extract(year FROM b)::int - extract(year FROM a)::int) * 4
                        + extract(quarter FROM b)::int - extract(quarter FROM a)::int
    ELSE extract(year FROM b)::int - extract(year FROM a)::int
  END
$$;

-- The first day of a month index (the inverse of ltv_month_idx).
CREATE OR REPLACE FUNCTION ltv_month_start(idx integer) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT make_date(idx / 12, idx % 12 + 1, 1) $$;

-- The month index of a date bound that may be -infinity or infinity (a
-- window left open), clamped to the years 1 to 5000 so that it compares
-- with any stored month index.
CREATE OR REPLACE FUNCTION ltv_month_bound(d date) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT ltv_month_idx(least(greatest(d, date '0001-01-01'), date '5000-01-01')) $$;

-- The first day (UTC) of the period of `months` months containing day d.
CREATE OR REPLACE FUNCTION ltv_period_start(d date, months integer) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT ltv_month_start(ltv_month_idx(d) / months * months) $$;

-- A registration window [start_ts, end_ts] (either end null: open) splits into
-- whole periods of `months` months, which a cube keyed by period answers, and
-- the partial periods at its ends, whose customers are read one by one. The
-- whole periods are [ltv_whole_from, ltv_whole_to) as UTC days: the first
-- period starting at or after start_ts, up to the period containing end_ts
-- unless end_ts is that period's last microsecond (timestamps have microsecond
-- precision, so "registered <= end_ts" then covers the whole period). When
-- from >= to, no period is whole.
CREATE OR REPLACE FUNCTION ltv_whole_from(start_ts timestamptz, months integer) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE WHEN start_ts IS NULL THEN '-infinity'::date
              WHEN start_ts = ltv_period_start(ltv_utc_day(start_ts), months)::timestamp AT TIME ZONE 'UTC'
                THEN ltv_period_start(ltv_utc_day(start_ts), months)
              ELSE (ltv_period_start(ltv_utc_day(start_ts), months) + make_interval(months => months))::date END
$$;

CREATE OR REPLACE FUNCTION ltv_whole_to(end_ts timestamptz, months integer) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE WHEN end_ts IS NULL THEN 'infinity'::date
              ELSE ltv_period_start(ltv_utc_day(end_ts + interval '1 microsecond'), months) END
$$;

-- Functions the CLV pipes share (pipes cannot share nodes across files).

-- Today in UTC: the default as_of.
CREATE OR REPLACE FUNCTION ltv_today() RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT (now() AT TIME ZONE 'UTC')::date $$;

-- The exact median of a sorted array (mean of the two middle values when the
-- count is even); null for an empty array. percentile_cont would go through float8.
CREATE OR REPLACE FUNCTION ltv_median(sorted numeric[]) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT (sorted[(cardinality(sorted) + 1) / 2] + sorted[(cardinality(sorted) + 2) / 2]) / 2
$$;

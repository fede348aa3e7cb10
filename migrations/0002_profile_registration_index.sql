-- Registration windows (start_date / end_date) of the cohort pipes are
-- answered from the cubes for the whole periods inside the window and from
-- the profiles of the customers registered in the partial periods at its
-- ends: this index finds those edge customers without a scan.
CREATE INDEX customer_summary_registration_date ON customer_summary (registration_date);

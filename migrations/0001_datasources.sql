-- The three Tinybird datasources, with exactly their fields.
-- Timestamps are timestamptz (stored UTC); money is numeric (exact, never float);
-- Tinybird's UInt8 flags are smallint 0/1 so they read back as the numbers clients sent.
-- Every table is keyed so it can be distributed by customer_id (Citus) later.

CREATE TABLE customers (
    customer_id        text        PRIMARY KEY,
    registration_date  timestamptz NOT NULL,
    country            text,
    city               text,
    age                integer     CHECK (age BETWEEN 0 AND 150),
    gender             text,
    acquisition_source text,
    segment            text,
    is_active          smallint    NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    -- When the latest version of this customer was received ("latest received wins").
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- A repeated transaction_id is stored once (the first one received), so retries are safe.
CREATE TABLE transactions (
    transaction_id   text        PRIMARY KEY,
    customer_id      text        NOT NULL,
    transaction_date timestamptz NOT NULL,
    amount           numeric     NOT NULL CHECK (amount >= 0),
    product_category text,
    transaction_type text,
    payment_method   text,
    is_refund        smallint    NOT NULL DEFAULT 0 CHECK (is_refund IN (0, 1)),
    received_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transactions_customer_date ON transactions (customer_id, transaction_date);

CREATE TABLE customer_interactions (
    interaction_id     text        PRIMARY KEY,
    customer_id        text        NOT NULL,
    interaction_date   timestamptz NOT NULL,
    interaction_type   text,
    channel            text,
    duration_seconds   integer     CHECK (duration_seconds >= 0),
    satisfaction_score smallint    CHECK (satisfaction_score BETWEEN 1 AND 5),
    received_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customer_interactions_customer_date ON customer_interactions (customer_id, interaction_date);

-- Rows that failed validation, per datasource, with the line as received and why.
CREATE TABLE quarantine (
    datasource  text        NOT NULL,
    id          bigserial,
    received_at timestamptz NOT NULL DEFAULT now(),
    error       text        NOT NULL,
    raw         text        NOT NULL,
    PRIMARY KEY (datasource, id)
);

-- API tokens. Only a SHA-256 of the token is kept: tokens are 256-bit random, so a
-- fast hash is enough and a database leak does not leak usable tokens.
CREATE TABLE tokens (
    id          bigserial   PRIMARY KEY,
    name        text        NOT NULL UNIQUE,
    token_hash  bytea       NOT NULL UNIQUE,
    scopes      text[]      NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    revoked_at  timestamptz
);

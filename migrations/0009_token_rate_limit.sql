-- A token's own rate limit, in requests per second (NULL: auth.rate_limit_rps
-- of config.yml). Set with `ltv-pipes token create --rps N`.
ALTER TABLE tokens ADD COLUMN rate_limit_rps integer
    CHECK (rate_limit_rps IS NULL OR rate_limit_rps > 0);

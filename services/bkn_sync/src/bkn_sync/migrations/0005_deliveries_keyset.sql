-- The delivery listing's keyset pages (GET /deliveries, the console's find page): newest change
-- first, `after` = the last row's (updated_at, delivery_id). Without it every page sorts the
-- whole table (bench/console_pages.py).
CREATE INDEX deliveries_updated ON deliveries (updated_at DESC, delivery_id DESC);

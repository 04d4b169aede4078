-- bunkerd's records: one row per (column family, key), as the `Store` trait sees them
-- (store/src/pg.rs). Keys and values are opaque bytes; `bytea` compares bytewise, which is the
-- order the trait's scans promise. Secret values arrive sealed.
CREATE TABLE records (
    cf    text  COLLATE "C" NOT NULL,
    key   bytea NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (cf, key)
);

-- Late data: what each reported day was computed from, so that a later run
-- can tell when a day's partitions changed (files added by a late drop,
-- recovered or removed) and report the day again (`batch-job reconcile`).
-- And why each run happened.

ALTER TABLE batch_runs
    ADD COLUMN reason VARCHAR(255) NOT NULL DEFAULT 'manual'
        COMMENT 'scheduled | manual | backfill | reconcile: <what changed>'
        AFTER outcome;

-- One row per reported day, replaced with the day's report rows in the same
-- transaction: the listing of the data files the report counted.
CREATE TABLE reported_inputs (
    day          DATE             NOT NULL,
    files        INT UNSIGNED     NOT NULL COMMENT 'closed data files listed (corrupt ones included)',
    bytes        BIGINT UNSIGNED  NOT NULL COMMENT 'their total size',
    digest       CHAR(16)         NOT NULL COMMENT 'xxh3-64 (hex) of the sorted (path, size) list',
    run_id       BIGINT UNSIGNED  NOT NULL COMMENT 'the run that reported the day from this listing',
    reported_at  DATETIME(3)      NOT NULL COMMENT 'UTC',
    PRIMARY KEY (day),
    CONSTRAINT reported_inputs_run FOREIGN KEY (run_id) REFERENCES batch_runs (run_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- One bad record never blocks a day: records that break a rule and blocks
-- that cannot be read are skipped (and kept aside in run.quarantine_dir),
-- counted here; per rule and per byte range in `inputs`.
ALTER TABLE batch_runs
    ADD COLUMN records_skipped BIGINT UNSIGNED NOT NULL DEFAULT 0
        COMMENT 'records skipped inside files read: broke the contract''s rules or their hour partition'
        AFTER files_corrupt,
    ADD COLUMN blocks_skipped BIGINT UNSIGNED NOT NULL DEFAULT 0
        COMMENT 'byte ranges skipped inside files read: blocks that could not be read'
        AFTER records_skipped;

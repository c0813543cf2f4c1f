ALTER TABLE batch_runs DROP COLUMN blocks_skipped, DROP COLUMN records_skipped;

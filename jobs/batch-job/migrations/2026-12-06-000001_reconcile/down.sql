DROP TABLE IF EXISTS reported_inputs;
ALTER TABLE batch_runs DROP COLUMN reason;

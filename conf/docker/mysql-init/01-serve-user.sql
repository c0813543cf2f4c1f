-- Run once by the mysql image when its data volume is first created
-- (/docker-entrypoint-initdb.d). The serving layer reads through this
-- user, which can SELECT and nothing else; the batch job writes as
-- `clickstream`. A production setup narrows it to the two tables serve
-- reads, once the batch job has created them (docs/serving.md).
CREATE USER IF NOT EXISTS 'clickstream_ro'@'%' IDENTIFIED BY 'clickstream_ro';
GRANT SELECT ON clickstream.* TO 'clickstream_ro'@'%';

-- Reports of the batch layer. One row set per UTC day; a run replaces a
-- day's rows (daily_traffic, then its children by ON DELETE CASCADE) and
-- inserts the new ones in one transaction, so readers see the old or the
-- new day, never a mix.

-- Audit of every run (also failed ones and runs that found no data).
CREATE TABLE batch_runs (
    run_id              BIGINT UNSIGNED  NOT NULL AUTO_INCREMENT,
    started_at          DATETIME(3)      NOT NULL COMMENT 'UTC',
    finished_at         DATETIME(3)      NULL     COMMENT 'UTC; NULL while running (or if the process died)',
    outcome             VARCHAR(16)      NOT NULL COMMENT 'running | succeeded | no_data | failed',
    day_from            DATE             NOT NULL,
    day_to              DATE             NOT NULL,
    source_url          VARCHAR(1024)    NOT NULL,
    visitor_definition  VARCHAR(32)      NOT NULL,
    success_below       SMALLINT UNSIGNED NOT NULL,
    skip_corrupt        BOOLEAN          NOT NULL,
    days_written        INT UNSIGNED     NOT NULL DEFAULT 0,
    days_without_data   INT UNSIGNED     NOT NULL DEFAULT 0,
    files_read          INT UNSIGNED     NOT NULL DEFAULT 0,
    files_in_progress   INT UNSIGNED     NOT NULL DEFAULT 0 COMMENT '.avro.tmp files skipped',
    files_corrupt       INT UNSIGNED     NOT NULL DEFAULT 0 COMMENT 'skipped with --skip-corrupt',
    bytes_read          BIGINT UNSIGNED  NOT NULL DEFAULT 0,
    events_read         BIGINT UNSIGNED  NOT NULL DEFAULT 0,
    events_unique       BIGINT UNSIGNED  NOT NULL DEFAULT 0,
    inputs              LONGTEXT         NULL COMMENT 'JSON: per day, files read, in-progress and corrupt files with offsets',
    error               TEXT             NULL,
    host                VARCHAR(255)     NOT NULL,
    pid                 INT UNSIGNED     NOT NULL,
    job_version         VARCHAR(32)      NOT NULL,
    PRIMARY KEY (run_id),
    KEY batch_runs_days (day_from, day_to),
    KEY batch_runs_started (started_at),
    KEY batch_runs_outcome (outcome, started_at),
    CONSTRAINT batch_runs_outcome_known CHECK (outcome IN ('running', 'succeeded', 'no_data', 'failed')),
    CONSTRAINT batch_runs_inputs_json CHECK (inputs IS NULL OR JSON_VALID(inputs))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Reports 1 and 2 (totals) and the basis of report 3: one row per day.
CREATE TABLE daily_traffic (
    day                 DATE             NOT NULL,
    weekday             TINYINT UNSIGNED NOT NULL COMMENT 'ISO: 1 = Monday .. 7 = Sunday',
    requests            BIGINT UNSIGNED  NOT NULL COMMENT 'distinct events (deduplicated by event id)',
    unique_visitors     BIGINT UNSIGNED  NOT NULL,
    success_requests    BIGINT UNSIGNED  NOT NULL,
    failure_requests    BIGINT UNSIGNED  NOT NULL,
    bytes_sent          BIGINT UNSIGNED  NOT NULL,
    events_read         BIGINT UNSIGNED  NOT NULL COMMENT 'records read, duplicates included',
    duplicates_dropped  BIGINT UNSIGNED  NOT NULL,
    visitor_definition  VARCHAR(32)      NOT NULL COMMENT 'client | client_and_user_agent',
    success_below       SMALLINT UNSIGNED NOT NULL COMMENT 'success = status < this',
    run_id              BIGINT UNSIGNED  NOT NULL COMMENT 'batch_runs.run_id that wrote the day',
    computed_at         DATETIME(3)      NOT NULL COMMENT 'UTC',
    PRIMARY KEY (day),
    KEY daily_traffic_weekday (weekday, day),
    KEY daily_traffic_run (run_id),
    CONSTRAINT daily_traffic_weekday_range CHECK (weekday BETWEEN 1 AND 7),
    CONSTRAINT daily_traffic_split CHECK (success_requests + failure_requests = requests)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Report 2 in detail: requests per status code (the class is derived).
CREATE TABLE daily_status_codes (
    day                 DATE             NOT NULL,
    status              SMALLINT UNSIGNED NOT NULL,
    status_class        TINYINT UNSIGNED NOT NULL COMMENT '1..5 for 1xx..5xx',
    is_success          BOOLEAN          NOT NULL,
    requests            BIGINT UNSIGNED  NOT NULL,
    PRIMARY KEY (day, status),
    KEY daily_status_codes_status (status, day),
    CONSTRAINT daily_status_codes_day FOREIGN KEY (day) REFERENCES daily_traffic (day) ON DELETE CASCADE,
    CONSTRAINT daily_status_codes_range CHECK (status BETWEEN 100 AND 599 AND status_class = status DIV 100)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Report 4: traffic per hour of each day (24 rows per day, zeros included).
CREATE TABLE hourly_traffic (
    day                 DATE             NOT NULL,
    hour                TINYINT UNSIGNED NOT NULL COMMENT 'UTC hour 0..23',
    requests            BIGINT UNSIGNED  NOT NULL,
    unique_visitors     BIGINT UNSIGNED  NOT NULL,
    bytes_sent          BIGINT UNSIGNED  NOT NULL,
    success_requests    BIGINT UNSIGNED  NOT NULL,
    failure_requests    BIGINT UNSIGNED  NOT NULL,
    PRIMARY KEY (day, hour),
    KEY hourly_traffic_hour (hour, day),
    CONSTRAINT hourly_traffic_day FOREIGN KEY (day) REFERENCES daily_traffic (day) ON DELETE CASCADE,
    CONSTRAINT hourly_traffic_hour_range CHECK (hour < 24)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Views for analysts (docs/reporting.md).

-- Report 1: unique visitors per day.
CREATE VIEW v_unique_visitors_daily AS
SELECT day, DAYNAME(day) AS weekday_name, unique_visitors, requests, visitor_definition
FROM daily_traffic;

-- Report 2: success vs failure per day.
CREATE VIEW v_success_failure_daily AS
SELECT day, success_requests, failure_requests, requests,
       ROUND(100 * success_requests / NULLIF(requests, 0), 2) AS success_pct,
       success_below
FROM daily_traffic;

-- Report 2: per status class.
CREATE VIEW v_status_classes_daily AS
SELECT day, CONCAT(status_class, 'xx') AS status_class, SUM(requests) AS requests,
       MIN(is_success) = 1 AS is_success
FROM daily_status_codes
GROUP BY day, status_class;

-- Report 3: day-wise distribution; filter with WHERE day BETWEEN … for a range.
CREATE VIEW v_daywise_visitors AS
SELECT day, weekday, DAYNAME(day) AS weekday_name, unique_visitors, requests
FROM daily_traffic;

-- Report 3: per weekday over every stored day.
CREATE VIEW v_weekday_visitors AS
SELECT weekday, MIN(DAYNAME(day)) AS weekday_name, COUNT(*) AS days,
       SUM(unique_visitors) AS sum_unique_visitors,
       ROUND(AVG(unique_visitors), 1) AS avg_unique_visitors,
       MIN(unique_visitors) AS min_unique_visitors,
       MAX(unique_visitors) AS max_unique_visitors
FROM daily_traffic
GROUP BY weekday;

-- Report 4: hourly distribution with each hour's share of its day.
CREATE VIEW v_hourly_traffic AS
SELECT h.day, h.hour, h.requests, h.unique_visitors, h.bytes_sent,
       ROUND(100 * h.requests / NULLIF(d.requests, 0), 2) AS pct_of_day_requests
FROM hourly_traffic h JOIN daily_traffic d ON d.day = h.day;

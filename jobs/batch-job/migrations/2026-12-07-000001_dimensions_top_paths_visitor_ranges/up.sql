-- Reports an analyst can slice (issue 22): per web server and per category,
-- top paths, and unique visitors over any range of days. Every table below
-- hangs off daily_traffic (ON DELETE CASCADE), so a run replaces a day's
-- breakdowns, paths and visitor set in the same transaction as its totals.

-- Daily totals per dimension value: dimension 'server' is the web server
-- that wrote the line (the spool agent's source_host), 'category' the
-- category the parser derived from the path (the speed layer's popularity
-- key). Unique visitors are exact per value (a visitor of two servers counts
-- once for each, and once in daily_traffic).
CREATE TABLE daily_dimension_traffic (
    day                 DATE             NOT NULL,
    dimension           VARCHAR(16)      NOT NULL COMMENT 'server | category',
    value               VARCHAR(255)     NOT NULL COMMENT 'web server or category; longer values end in ~ and 16 hex digits of their hash',
    requests            BIGINT UNSIGNED  NOT NULL COMMENT 'distinct events',
    unique_visitors     BIGINT UNSIGNED  NOT NULL,
    success_requests    BIGINT UNSIGNED  NOT NULL,
    failure_requests    BIGINT UNSIGNED  NOT NULL,
    bytes_sent          BIGINT UNSIGNED  NOT NULL,
    PRIMARY KEY (day, dimension, value),
    KEY daily_dimension_traffic_value (dimension, value, day),
    CONSTRAINT daily_dimension_traffic_day FOREIGN KEY (day) REFERENCES daily_traffic (day) ON DELETE CASCADE,
    CONSTRAINT daily_dimension_traffic_known CHECK (dimension IN ('server', 'category')),
    CONSTRAINT daily_dimension_traffic_split CHECK (success_requests + failure_requests = requests)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The same per hour: 24 rows (zeros included) for every value seen that day.
CREATE TABLE hourly_dimension_traffic (
    day                 DATE             NOT NULL,
    hour                TINYINT UNSIGNED NOT NULL COMMENT 'UTC hour 0..23',
    hour_start          DATETIME AS (CAST(day AS DATETIME) + INTERVAL hour HOUR) STORED COMMENT 'UTC start of the hour',
    dimension           VARCHAR(16)      NOT NULL COMMENT 'server | category',
    value               VARCHAR(255)     NOT NULL,
    requests            BIGINT UNSIGNED  NOT NULL,
    unique_visitors     BIGINT UNSIGNED  NOT NULL,
    success_requests    BIGINT UNSIGNED  NOT NULL,
    failure_requests    BIGINT UNSIGNED  NOT NULL,
    bytes_sent          BIGINT UNSIGNED  NOT NULL,
    PRIMARY KEY (day, hour, dimension, value),
    KEY hourly_dimension_traffic_start (hour_start),
    KEY hourly_dimension_traffic_value (dimension, value, hour_start),
    CONSTRAINT hourly_dimension_traffic_day FOREIGN KEY (day) REFERENCES daily_traffic (day) ON DELETE CASCADE,
    CONSTRAINT hourly_dimension_traffic_hour_range CHECK (hour < 24),
    CONSTRAINT hourly_dimension_traffic_known CHECK (dimension IN ('server', 'category')),
    CONSTRAINT hourly_dimension_traffic_split CHECK (success_requests + failure_requests = requests)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The most requested paths of each day (reports.top_paths of them; ties
-- broken by path, so a rerun ranks the same).
CREATE TABLE daily_top_paths (
    day                 DATE             NOT NULL,
    `rank`              SMALLINT UNSIGNED NOT NULL COMMENT '1 = most requested',
    path                TEXT             NOT NULL COMMENT 'request path without the query',
    requests            BIGINT UNSIGNED  NOT NULL,
    success_requests    BIGINT UNSIGNED  NOT NULL,
    failure_requests    BIGINT UNSIGNED  NOT NULL,
    bytes_sent          BIGINT UNSIGNED  NOT NULL,
    PRIMARY KEY (day, `rank`),
    CONSTRAINT daily_top_paths_day FOREIGN KEY (day) REFERENCES daily_traffic (day) ON DELETE CASCADE,
    CONSTRAINT daily_top_paths_rank CHECK (`rank` >= 1),
    CONSTRAINT daily_top_paths_split CHECK (success_requests + failure_requests = requests)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Each day's set of visitors, as 128-bit hashes (XXH3-128 of the visitor
-- key): daily uniques do not add up, sets do. COUNT(DISTINCT visitor) over
-- any range of days is that range's exact unique visitors (a collision of
-- two 128-bit hashes is beyond any realistic traffic).
CREATE TABLE daily_visitors (
    day                 DATE             NOT NULL,
    visitor             BINARY(16)       NOT NULL COMMENT 'XXH3-128 of the visitor key (reports.visitor)',
    PRIMARY KEY (day, visitor),
    CONSTRAINT daily_visitors_day FOREIGN KEY (day) REFERENCES daily_traffic (day) ON DELETE CASCADE
) ENGINE = InnoDB;

-- ISO weeks (Monday to Sunday) and calendar months: recomputed from
-- daily_visitors in the transaction that (re)reports a day inside them.
CREATE TABLE weekly_visitors (
    week_start          DATE             NOT NULL COMMENT 'the Monday',
    iso_year            SMALLINT UNSIGNED NOT NULL,
    iso_week            TINYINT UNSIGNED NOT NULL,
    days_reported       TINYINT UNSIGNED NOT NULL COMMENT 'days of the week with a report (7 when complete)',
    requests            BIGINT UNSIGNED  NOT NULL,
    unique_visitors     BIGINT UNSIGNED  NOT NULL COMMENT 'exact: distinct visitors over the reported days',
    computed_at         DATETIME(3)      NOT NULL COMMENT 'UTC',
    PRIMARY KEY (week_start),
    UNIQUE KEY weekly_visitors_iso (iso_year, iso_week),
    CONSTRAINT weekly_visitors_monday CHECK (WEEKDAY(week_start) = 0),
    CONSTRAINT weekly_visitors_days CHECK (days_reported BETWEEN 1 AND 7)
) ENGINE = InnoDB;

CREATE TABLE monthly_visitors (
    month_start         DATE             NOT NULL COMMENT 'the first of the month',
    days_reported       TINYINT UNSIGNED NOT NULL COMMENT 'days of the month with a report',
    requests            BIGINT UNSIGNED  NOT NULL,
    unique_visitors     BIGINT UNSIGNED  NOT NULL COMMENT 'exact: distinct visitors over the reported days',
    computed_at         DATETIME(3)      NOT NULL COMMENT 'UTC',
    PRIMARY KEY (month_start),
    CONSTRAINT monthly_visitors_first CHECK (DAYOFMONTH(month_start) = 1),
    CONSTRAINT monthly_visitors_days CHECK (days_reported BETWEEN 1 AND 31)
) ENGINE = InnoDB;

-- Views: one per dimension, as BI tools list them.
CREATE VIEW v_server_daily AS
SELECT day, value AS server, requests, unique_visitors, success_requests, failure_requests,
       ROUND(100 * failure_requests / NULLIF(requests, 0), 2) AS failure_pct, bytes_sent
FROM daily_dimension_traffic WHERE dimension = 'server';

CREATE VIEW v_category_daily AS
SELECT day, value AS category, requests, unique_visitors, success_requests, failure_requests,
       ROUND(100 * failure_requests / NULLIF(requests, 0), 2) AS failure_pct, bytes_sent
FROM daily_dimension_traffic WHERE dimension = 'category';

CREATE VIEW v_server_hourly AS
SELECT day, hour, hour_start, value AS server, requests, unique_visitors, success_requests, failure_requests, bytes_sent
FROM hourly_dimension_traffic WHERE dimension = 'server';

CREATE VIEW v_category_hourly AS
SELECT day, hour, hour_start, value AS category, requests, unique_visitors, success_requests, failure_requests, bytes_sent
FROM hourly_dimension_traffic WHERE dimension = 'category';

-- Weekday distribution without the misleading sum of daily uniques.
CREATE OR REPLACE VIEW v_weekday_visitors AS
SELECT weekday,
       MIN(ELT(DAYOFWEEK(day), 'Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday')) AS weekday_name,
       COUNT(*) AS days,
       ROUND(AVG(unique_visitors), 1) AS avg_unique_visitors,
       MIN(unique_visitors) AS min_unique_visitors,
       MAX(unique_visitors) AS max_unique_visitors
FROM daily_traffic
GROUP BY weekday;

-- Charts want a timestamp per hour, not a (day, hour) pair: hour_start is the
-- UTC start of the hour, computed by MySQL from the key (so it can never
-- disagree with it) and indexed for time-range scans.
ALTER TABLE hourly_traffic
    ADD COLUMN hour_start DATETIME AS (CAST(day AS DATETIME) + INTERVAL hour HOUR) STORED
        COMMENT 'UTC start of the hour: TIMESTAMP(day, MAKETIME(hour, 0, 0))'
        AFTER hour,
    ADD KEY hourly_traffic_hour_start (hour_start);

-- Day names that do not follow the session's lc_time_names (DAYNAME() says
-- "Montag" to a German session): English, from DAYOFWEEK().
CREATE OR REPLACE VIEW v_unique_visitors_daily AS
SELECT day, ELT(DAYOFWEEK(day), 'Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday') AS weekday_name,
       unique_visitors, requests, visitor_definition
FROM daily_traffic;

CREATE OR REPLACE VIEW v_daywise_visitors AS
SELECT day, weekday,
       ELT(DAYOFWEEK(day), 'Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday') AS weekday_name,
       unique_visitors, requests
FROM daily_traffic;

CREATE OR REPLACE VIEW v_weekday_visitors AS
SELECT weekday,
       MIN(ELT(DAYOFWEEK(day), 'Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday')) AS weekday_name,
       COUNT(*) AS days,
       SUM(unique_visitors) AS sum_unique_visitors,
       ROUND(AVG(unique_visitors), 1) AS avg_unique_visitors,
       MIN(unique_visitors) AS min_unique_visitors,
       MAX(unique_visitors) AS max_unique_visitors
FROM daily_traffic
GROUP BY weekday;

CREATE OR REPLACE VIEW v_hourly_traffic AS
SELECT h.day, h.hour, h.hour_start, h.requests, h.unique_visitors, h.bytes_sent,
       ROUND(100 * h.requests / NULLIF(d.requests, 0), 2) AS pct_of_day_requests
FROM hourly_traffic h JOIN daily_traffic d ON d.day = h.day;

CREATE OR REPLACE VIEW v_hourly_traffic AS
SELECT h.day, h.hour, h.requests, h.unique_visitors, h.bytes_sent,
       ROUND(100 * h.requests / NULLIF(d.requests, 0), 2) AS pct_of_day_requests
FROM hourly_traffic h JOIN daily_traffic d ON d.day = h.day;

CREATE OR REPLACE VIEW v_weekday_visitors AS
SELECT weekday, MIN(DAYNAME(day)) AS weekday_name, COUNT(*) AS days,
       SUM(unique_visitors) AS sum_unique_visitors,
       ROUND(AVG(unique_visitors), 1) AS avg_unique_visitors,
       MIN(unique_visitors) AS min_unique_visitors,
       MAX(unique_visitors) AS max_unique_visitors
FROM daily_traffic
GROUP BY weekday;

CREATE OR REPLACE VIEW v_daywise_visitors AS
SELECT day, weekday, DAYNAME(day) AS weekday_name, unique_visitors, requests
FROM daily_traffic;

CREATE OR REPLACE VIEW v_unique_visitors_daily AS
SELECT day, DAYNAME(day) AS weekday_name, unique_visitors, requests, visitor_definition
FROM daily_traffic;

ALTER TABLE hourly_traffic DROP KEY hourly_traffic_hour_start, DROP COLUMN hour_start;

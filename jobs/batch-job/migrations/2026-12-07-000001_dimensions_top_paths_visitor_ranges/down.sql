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
DROP VIEW v_category_hourly;
DROP VIEW v_server_hourly;
DROP VIEW v_category_daily;
DROP VIEW v_server_daily;
DROP TABLE monthly_visitors;
DROP TABLE weekly_visitors;
DROP TABLE daily_visitors;
DROP TABLE daily_top_paths;
DROP TABLE hourly_dimension_traffic;
DROP TABLE daily_dimension_traffic;

DROP VIEW IF EXISTS v_hourly_traffic, v_weekday_visitors, v_daywise_visitors,
    v_status_classes_daily, v_success_failure_daily, v_unique_visitors_daily;
DROP TABLE IF EXISTS hourly_traffic, daily_status_codes, daily_traffic, batch_runs;

"""Analytics: KPIs, rollups and reports."""

"""Analytics: cookieless page-view counts held per process and added up in batches
(`pageviews`), the funnel report from small queries (`reports`), its percentages and CSV
rows (`report_format`), and the intake desk's first-contact figures by week
(`intake_report`). Nothing here identifies a reader."""

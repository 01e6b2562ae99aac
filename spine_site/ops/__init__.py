"""Operating the site: JSON logs with secrets redacted (`logs`), Prometheus metrics at
/metrics (`metrics`), and what /healthz and /healthz/ready check (`health`)."""

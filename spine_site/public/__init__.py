"""The public site: one blueprint with the article, home and form pages (`views`), the two
lead forms rendered and handled (`lead_forms`, `forms`), the visit cookie and which views
count (`visits`), ETags and the pages kept as bytes (`caching`), and article images
(`media`)."""

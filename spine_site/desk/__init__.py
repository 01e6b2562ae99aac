"""The intake desk: how staff work a request once it is in. Contact attempts, follow-ups
and ownership (`attempts`), the queue's views and counts (`queue`), the clinic's
business-hours clock and its settings (`business_hours`, `hours_settings`), what staff do
to a lead (status, notes, spam, resend: `casework`), and the morning summary (`digest`).
Every function that writes takes the acting user, audits, and is one transaction."""

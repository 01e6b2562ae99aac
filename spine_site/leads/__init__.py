"""Leads: what a patient submits and what it brings. The two forms' fields and the spam
verdict, storing a submission with its person and queued emails in one transaction
(`intake`), one person per email address (`people`), the emails a lead brings (`emails`),
the guide PDF (`guide`), the words that tell a patient how they will be reached
(`contact_promise`), and reading leads back for staff: the list and its search (`lead_list`)
and the CSV and Excel exports (`export`, `export_xlsx`)."""

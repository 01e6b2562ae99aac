"""Staff accounts and how they get in: accounts, roles and the password rule (`users`),
the password step, its throttling and server-side sessions (`signin`), authenticator and
recovery codes (`mfa`), passkeys (`passkeys`), and the audit log every staff action writes
to (`audit`)."""
